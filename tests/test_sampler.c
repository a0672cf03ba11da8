/* Sampler: RNG reference vectors, parameter validation, greedy, the empirical distribution of
 * temperature sampling, top-k / top-p / min-p against brute-force references, penalties value
 * by value, seeding, and hostile logits. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sample/candidates.h"
#include "sample/rng.h"
#include "sample/sampler.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static float *random_logits(ct_test_rng *r, int n, float scale) {
    float *l = malloc((size_t)n * sizeof *l);
    for (int i = 0; i < n; i++) l[i] = ct_test_rng_uniform(r) * scale;
    return l;
}

/* Params with every filter off, so tests switch on only what they examine. */
static ct_sampler_params plain_params(float temperature, uint64_t seed) {
    ct_sampler_params p = ct_sampler_params_default();
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

static ct_sampler *make_sampler(const ct_sampler_params *p, int n_vocab) {
    ct_sampler *s = NULL;
    CHECK_OK(ct_sampler_create(p, n_vocab, &s));
    return s;
}

/* One draw; -1 (with the library's message printed) when sampling fails. Loops count these
 * instead of adding one CHECK per draw. */
static int32_t draw(ct_sampler *s, const float *logits) {
    int32_t tok = -1;
    ct_status st = ct_sampler_sample(s, logits, &tok);
    if (st != CT_OK) {
        fprintf(stderr, "sample failed: %s: %s\n", ct_status_name(st), ct_last_error());
        return -1;
    }
    return tok;
}

/* Reference ranking: ids sorted by (logit desc, id asc), with a plain full qsort. */
static const float *g_rank_logits;
static int cmp_ref_rank(const void *pa, const void *pb) {
    int a = *(const int *)pa, b = *(const int *)pb;
    float la = g_rank_logits[a], lb = g_rank_logits[b];
    if (la != lb) return la > lb ? -1 : 1;
    return a < b ? -1 : (a > b);
}
static int *reference_rank(const float *logits, int n) {
    int *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = i;
    g_rank_logits = logits;
    qsort(ids, (size_t)n, sizeof *ids, cmp_ref_rank);
    return ids;
}

/* Marks which ids a candidate list holds; returns false on a duplicate or out-of-range id. */
static bool candidate_flags(const ct_token_logit *c, size_t n, int n_vocab, unsigned char *flags) {
    memset(flags, 0, (size_t)n_vocab);
    for (size_t i = 0; i < n; i++) {
        if (c[i].id < 0 || c[i].id >= n_vocab || flags[c[i].id]) return false;
        flags[c[i].id] = 1;
    }
    return true;
}

/* The candidate set must be exactly the first m ids of the reference ranking. */
static void check_set_is_prefix(const ct_token_logit *c, size_t n, const int *rank, size_t m,
                                int n_vocab, const char *what) {
    unsigned char *flags = malloc((size_t)n_vocab);
    CHECK_MSG(candidate_flags(c, n, n_vocab, flags), "%s: duplicate or bad id", what);
    CHECK_MSG(n == m, "%s: kept %zu candidates, expected %zu", what, n, m);
    size_t missing = 0;
    for (size_t i = 0; i < m && i < (size_t)n_vocab; i++) missing += !flags[rank[i]];
    CHECK_MSG(missing == 0, "%s: %zu of the expected ids are missing", what, missing);
    free(flags);
}

/* |observed - N p| <= 5 sigma of Binomial(N, p) for every bin. For a correct sampler a single
 * bin fails with probability ~5.7e-7, so with ~10 bins a false alarm is ~1e-5 (and the seed is
 * fixed, so the outcome is deterministic anyway). */
static int bins_outside_5_sigma(const long *counts, const double *p, int bins, long draws) {
    int bad = 0;
    for (int i = 0; i < bins; i++) {
        double mean = (double)draws * p[i];
        double sigma = sqrt((double)draws * p[i] * (1.0 - p[i]));
        if (fabs((double)counts[i] - mean) > 5.0 * sigma + 1e-9) {
            bad++;
            fprintf(stderr, "  bin %d: observed %ld expected %.1f (sigma %.1f)\n", i, counts[i], mean,
                    sigma);
        }
    }
    return bad;
}

static void softmax_ref(const float *logits, int n, double temperature, double *p) {
    double max = -INFINITY, sum = 0.0;
    for (int i = 0; i < n; i++) max = fmax(max, (double)logits[i]);
    for (int i = 0; i < n; i++) sum += (p[i] = exp(((double)logits[i] - max) / temperature));
    for (int i = 0; i < n; i++) p[i] /= sum;
}

/* ---- RNG ----------------------------------------------------------------------------------- */

static void test_rng_reference_vectors(void) {
    /* xoshiro256** from state {1,2,3,4}: the reference implementation's first outputs (the
     * vectors rand_xoshiro checks against); recomputed with a Python transcription as well. */
    static const uint64_t expected[10] = {11520ULL,
                                          0ULL,
                                          1509978240ULL,
                                          1215971899390074240ULL,
                                          1216172134540287360ULL,
                                          607988272756665600ULL,
                                          16172922978634559625ULL,
                                          8476171486693032832ULL,
                                          10595114339597558777ULL,
                                          2904607092377533576ULL};
    ct_rng rng = {{1, 2, 3, 4}};
    int bad = 0;
    for (int i = 0; i < 10; i++) bad += ct_rng_next(&rng) != expected[i];
    CHECK_MSG(bad == 0, "%d xoshiro256** outputs differ from the reference", bad);

    /* splitmix64 from 0: the well-known first output of Vigna's splitmix64.c */
    uint64_t sm = 0;
    CHECK(ct_splitmix64(&sm) == 0xe220a8397b1dcdafULL);

    /* uniform doubles: in [0, 1) and mean 1/2 within 5 sigma (sigma = sqrt(1/12/N)) */
    ct_rng_seed(&rng, 7);
    const int n = 200000;
    double sum = 0.0;
    int out_of_range = 0;
    for (int i = 0; i < n; i++) {
        double u = ct_rng_uniform(&rng);
        out_of_range += !(u >= 0.0 && u < 1.0);
        sum += u;
    }
    CHECK(out_of_range == 0);
    CHECK_NEAR(sum / n, 0.5, 5.0 * sqrt(1.0 / 12.0 / n));
}

/* ---- parameters ---------------------------------------------------------------------------- */

static void expect_invalid(ct_sampler_params p, const char *message_part) {
    ct_clear_error();
    ct_status st = ct_sampler_params_validate(&p);
    CHECK_MSG(st == CT_ERR_INVALID_ARGUMENT, "expected invalid argument for '%s'", message_part);
    CHECK_MSG(strstr(ct_last_error(), message_part) != NULL, "message '%s' lacks '%s'",
              ct_last_error(), message_part);
    ct_sampler *s = (ct_sampler *)1;
    CHECK(ct_sampler_create(&p, 10, &s) == CT_ERR_INVALID_ARGUMENT && s == NULL);
}

static void test_params(void) {
    ct_sampler_params d = ct_sampler_params_default();
    CHECK(d.temperature == 0.8f && d.top_k == 40 && d.top_p == 0.95f && d.min_p == 0.05f);
    CHECK(d.repeat_penalty == 1.0f && d.presence_penalty == 0.0f && d.frequency_penalty == 0.0f);
    CHECK(d.penalty_last_n == 64 && d.seed == CT_SAMPLER_SEED_RANDOM);
    CHECK_OK(ct_sampler_params_validate(&d));

    ct_sampler_params p = d;
    p.top_p = 1.5f;
    expect_invalid(p, "top_p must be in (0, 1] (1 = off), got 1.5");
    p = d, p.top_p = 0.0f;
    expect_invalid(p, "top_p must be in (0, 1]");
    p = d, p.top_p = NAN;
    expect_invalid(p, "top_p");
    p = d, p.temperature = -0.5f;
    expect_invalid(p, "temperature must be a finite number >= 0 (0 = greedy), got -0.5");
    p = d, p.temperature = INFINITY;
    expect_invalid(p, "temperature");
    p = d, p.top_k = -1;
    expect_invalid(p, "top_k must be >= 0 (0 = off), got -1");
    p = d, p.min_p = 1.25f;
    expect_invalid(p, "min_p must be in [0, 1] (0 = off), got 1.25");
    p = d, p.repeat_penalty = 0.0f;
    expect_invalid(p, "repeat_penalty must be a finite number > 0");
    p = d, p.presence_penalty = INFINITY;
    expect_invalid(p, "presence_penalty must be finite");
    p = d, p.frequency_penalty = NAN;
    expect_invalid(p, "frequency_penalty must be finite");
    p = d, p.penalty_last_n = -1;
    expect_invalid(p, "penalty_last_n must be in [0, 16777216] (0 = off), got -1");
    p = d, p.penalty_last_n = CT_SAMPLER_MAX_PENALTY_LAST_N + 1;
    expect_invalid(p, "penalty_last_n");

    ct_sampler *s = NULL;
    ct_clear_error();
    CHECK(ct_sampler_create(&d, 0, &s) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "n_vocab must be >= 1, got 0") != NULL);
    CHECK(ct_sampler_params_validate(NULL) == CT_ERR_INVALID_ARGUMENT);

    /* a random seed is resolved to a concrete one that can be reported and reused */
    CHECK_OK(ct_sampler_create(&d, 10, &s));
    if (s) {
        CHECK(ct_sampler_seed(s) != CT_SAMPLER_SEED_RANDOM);
        CHECK(ct_sampler_get_params(s)->seed == ct_sampler_seed(s));
        CHECK(ct_sampler_n_vocab(s) == 10);
    }
    ct_sampler_free(s);
}

/* ---- greedy -------------------------------------------------------------------------------- */

static void test_greedy(void) {
    ct_test_rng r = {0x1234567};
    const int n = 3000;
    ct_sampler_params p = ct_sampler_params_default(); /* filters on: greedy must ignore them */
    p.temperature = 0.0f;
    p.seed = 1;
    ct_sampler *s = make_sampler(&p, n);
    int wrong = 0;
    for (int trial = 0; trial < 20; trial++) {
        float *l = random_logits(&r, n, 4.0f);
        int best = 0;
        for (int i = 1; i < n; i++)
            if (l[i] > l[best]) best = i;
        int32_t tok = -1;
        CHECK_OK(ct_sampler_sample(s, l, &tok));
        wrong += tok != best;
        free(l);
    }
    CHECK_MSG(wrong == 0, "greedy differed from argmax in %d of 20 trials", wrong);

    /* equal logits: the lowest id wins; a masked vocabulary leaves the one finite token */
    float flat[16], masked[16];
    for (int i = 0; i < 16; i++) flat[i] = 0.25f, masked[i] = -INFINITY;
    masked[11] = -3.0f;
    ct_sampler *s16 = make_sampler(&p, 16);
    int32_t tok = -1;
    CHECK_OK(ct_sampler_sample(s16, flat, &tok));
    CHECK(tok == 0);
    flat[9] = flat[4] = 0.5f;
    CHECK_OK(ct_sampler_sample(s16, flat, &tok));
    CHECK(tok == 4);
    CHECK_OK(ct_sampler_sample(s16, masked, &tok));
    CHECK(tok == 11);
    ct_sampler_free(s16);
    ct_sampler_free(s);
}

/* ---- temperature: the empirical distribution ----------------------------------------------- */

static void check_distribution(const float *logits, int n, const ct_sampler_params *p,
                               const double *expected, long draws, const char *what) {
    ct_sampler *s = make_sampler(p, n);
    long *counts = calloc((size_t)n, sizeof *counts);
    int outside = 0;
    for (long d = 0; d < draws; d++) {
        int32_t tok = draw(s, logits);
        if (tok < 0 || tok >= n) {
            outside++;
            continue;
        }
        counts[tok]++;
    }
    CHECK_MSG(outside == 0, "%s: %d draws failed or fell outside the vocabulary", what, outside);
    int bad = bins_outside_5_sigma(counts, expected, n, draws);
    CHECK_MSG(bad == 0, "%s: %d bins outside 5 sigma", what, bad);
    free(counts);
    ct_sampler_free(s);
}

static void test_temperature_distribution(void) {
    ct_test_rng r = {0xfeedbeef};
    enum { N = 8 };
    float *l = random_logits(&r, N, 2.0f);
    const long draws = 100000;
    double p07[N], p1[N], p25[N];
    softmax_ref(l, N, 0.7, p07);
    softmax_ref(l, N, 1.0, p1);
    softmax_ref(l, N, 2.5, p25);

    ct_sampler_params p = plain_params(0.7f, 42);
    check_distribution(l, N, &p, p07, draws, "T=0.7");
    p = plain_params(2.5f, 43);
    check_distribution(l, N, &p, p25, draws, "T=2.5");

    /* The check has power: T=0.7 draws are far (> 5 sigma) from softmax at T=1 in some bin. */
    ct_sampler *s = make_sampler(&(ct_sampler_params){.temperature = 0.7f, .top_k = 0, .top_p = 1.0f,
                                                       .repeat_penalty = 1.0f, .seed = 44},
                                 N);
    long counts[N] = {0};
    int failed = 0;
    for (long d = 0; d < draws; d++) {
        int32_t tok = draw(s, l);
        if (tok < 0 || tok >= N)
            failed++;
        else
            counts[tok]++;
    }
    CHECK(failed == 0);
    fprintf(stderr, "(expected: T=0.7 draws against T=1 probabilities)\n");
    CHECK(bins_outside_5_sigma(counts, p1, N, draws) > 0);
    ct_sampler_free(s);

    /* top-k then temperature: only the 5 best, in proportion softmax(l/T) renormalized */
    enum { V = 40 };
    float *lv = random_logits(&r, V, 3.0f);
    int *rank = reference_rank(lv, V);
    double pk[V] = {0}, sum = 0.0;
    for (int i = 0; i < 5; i++) sum += (pk[rank[i]] = exp((double)lv[rank[i]] / 1.3));
    for (int i = 0; i < 5; i++) pk[rank[i]] /= sum;
    p = plain_params(1.3f, 45);
    p.top_k = 5;
    check_distribution(lv, V, &p, pk, draws, "top_k=5, T=1.3");
    free(rank);
    free(lv);
    free(l);
}

/* ---- top-k --------------------------------------------------------------------------------- */

static void test_top_k(void) {
    ct_test_rng r = {0xabcdef};
    const int n = 5000, k = 10;
    float *l = random_logits(&r, n, 3.0f);
    int *rank = reference_rank(l, n);
    unsigned char *in_top = calloc((size_t)n, 1);
    for (int i = 0; i < k; i++) in_top[rank[i]] = 1;

    ct_sampler_params p = plain_params(3.0f, 9); /* hot: spreads draws over the whole top-k */
    p.top_k = k;
    ct_sampler *s = make_sampler(&p, n);
    int outside = 0, distinct = 0;
    unsigned char *hit = calloc((size_t)n, 1);
    for (int d = 0; d < 3000; d++) {
        int32_t tok = draw(s, l);
        if (tok < 0 || tok >= n || !in_top[tok]) {
            outside++;
            continue;
        }
        distinct += !hit[tok];
        hit[tok] = 1;
    }
    CHECK_MSG(outside == 0, "%d draws outside the top %d", outside, k);
    CHECK(distinct == k); /* at T=3 every one of the 10 is drawn in 3000 tries */

    const ct_token_logit *c;
    size_t cn;
    CHECK_OK(ct_sampler_candidates(s, l, &c, &cn));
    check_set_is_prefix(c, cn, rank, (size_t)k, n, "top_k=10");
    ct_sampler_free(s);

    /* k larger than the vocabulary keeps everything */
    p.top_k = 100;
    s = make_sampler(&p, 20);
    CHECK_OK(ct_sampler_candidates(s, l, &c, &cn));
    CHECK(cn == 20);
    ct_sampler_free(s);

    /* equal logits: the boundary keeps the lowest ids */
    float flat[100];
    for (int i = 0; i < 100; i++) flat[i] = -1.0f;
    int flat_rank[5] = {0, 1, 2, 3, 4};
    p.top_k = 5;
    s = make_sampler(&p, 100);
    CHECK_OK(ct_sampler_candidates(s, flat, &c, &cn));
    check_set_is_prefix(c, cn, flat_rank, 5, 100, "top_k=5 on equal logits");
    ct_sampler_free(s);

    /* many random sizes and k against the full sort (exercises the quickselect paths) */
    int bad = 0;
    for (int trial = 0; trial < 40; trial++) {
        int vn = 1 + (int)(ct_test_rng_next(&r) % 3000);
        int kk = 1 + (int)(ct_test_rng_next(&r) % (uint64_t)vn);
        /* coarse logits so that ties at the boundary are common */
        float *lt = malloc((size_t)vn * sizeof *lt);
        for (int i = 0; i < vn; i++) lt[i] = (float)(int)(ct_test_rng_uniform(&r) * 8.0f);
        int *rt = reference_rank(lt, vn);
        ct_token_logit *cands = malloc((size_t)vn * sizeof *cands);
        for (int i = 0; i < vn; i++) cands[i] = (ct_token_logit){i, lt[i]};
        ct_cand_array set = {cands, (size_t)vn, 0};
        ct_cands_top_k(&set, (size_t)kk);
        for (int i = 0; i < kk && set.size == (size_t)kk; i++) bad += set.data[i].id != rt[i];
        bad += set.size != (size_t)kk || set.sorted_len != (size_t)kk;
        free(cands);
        free(rt);
        free(lt);
    }
    CHECK_MSG(bad == 0, "top-k selection differed from the full sort %d times", bad);
    free(hit);
    free(in_top);
    free(rank);
    free(l);
}

/* ---- top-p --------------------------------------------------------------------------------- */

/* Reference: softmax over the given ranked set, smallest prefix with cumulative >= p. */
static size_t reference_top_p(const float *l, const int *rank, size_t n, double p) {
    double max = l[rank[0]], total = 0.0, cum = 0.0;
    for (size_t i = 0; i < n; i++) total += exp((double)l[rank[i]] - max);
    for (size_t i = 0; i < n; i++) {
        cum += exp((double)l[rank[i]] - max) / total;
        if (cum >= p) return i + 1;
    }
    return n;
}

static void test_top_p(void) {
    ct_test_rng r = {0x5eed5};
    const int n = 2000;
    float *l = random_logits(&r, n, 8.0f);
    int *rank = reference_rank(l, n);
    const double ps[] = {1e-6, 0.1, 0.5, 0.9, 0.99};
    for (size_t t = 0; t < sizeof ps / sizeof ps[0]; t++) {
        ct_sampler_params p = plain_params(1.0f, 3);
        p.top_p = (float)ps[t];
        ct_sampler *s = make_sampler(&p, n);
        const ct_token_logit *c;
        size_t cn;
        CHECK_OK(ct_sampler_candidates(s, l, &c, &cn));
        size_t m = reference_top_p(l, rank, (size_t)n, (double)p.top_p);
        char what[64];
        snprintf(what, sizeof what, "top_p=%g", ps[t]);
        check_set_is_prefix(c, cn, rank, m, n, what);
        /* minimality stated directly: the kept mass reaches p, without its last member it does not */
        double max = l[rank[0]], total = 0.0, kept = 0.0, smallest = INFINITY;
        for (int i = 0; i < n; i++) total += exp((double)l[i] - max);
        for (size_t i = 0; i < cn; i++) {
            double q = exp((double)c[i].logit - max) / total;
            kept += q;
            smallest = fmin(smallest, q);
        }
        CHECK_MSG(kept >= (double)p.top_p, "%s: kept mass %.9f < p", what, kept);
        CHECK_MSG(kept - smallest < (double)p.top_p, "%s: set is not minimal", what);
        ct_sampler_free(s);
    }

    /* after top-k, p is measured over the top-k set renormalized */
    ct_sampler_params p = plain_params(1.0f, 3);
    p.top_k = 50;
    p.top_p = 0.5f;
    ct_sampler *s = make_sampler(&p, n);
    const ct_token_logit *c;
    size_t cn;
    CHECK_OK(ct_sampler_candidates(s, l, &c, &cn));
    check_set_is_prefix(c, cn, rank, reference_top_p(l, rank, 50, 0.5), n, "top_k=50 then top_p=0.5");
    ct_sampler_free(s);

    /* random sizes, spreads and p against the full sort: covers the chunked walk (peaked) and
     * the mass-based selection (flat, nucleus beyond 4096 tokens) */
    int bad = 0;
    for (int trial = 0; trial < 24; trial++) {
        int vn = 2 + (int)(ct_test_rng_next(&r) % 20000);
        float spread = trial % 3 == 0 ? 0.05f : trial % 3 == 1 ? 2.0f : 12.0f;
        double pt = 0.05 + 0.9 * (ct_test_rng_uniform(&r) + 1.0) / 2.0;
        float *lt = random_logits(&r, vn, spread);
        int *rt = reference_rank(lt, vn);
        ct_token_logit *cands = malloc((size_t)vn * sizeof *cands);
        for (int i = 0; i < vn; i++) cands[i] = (ct_token_logit){i, lt[i]};
        ct_cand_array set = {cands, (size_t)vn, 0};
        ct_cands_top_p(&set, pt);
        size_t m = reference_top_p(lt, rt, (size_t)vn, pt);
        unsigned char *flags = malloc((size_t)vn);
        bool ok = set.size == m && candidate_flags(set.data, set.size, vn, flags);
        for (size_t i = 0; ok && i < m; i++) ok = flags[rt[i]];
        for (size_t i = 0; ok && i < set.sorted_len; i++) ok = set.data[i].id == rt[i];
        if (!ok) fprintf(stderr, "  top-p trial %d: n=%d spread=%g p=%g kept %zu, expected %zu\n", trial, vn,
                         (double)spread, pt, set.size, m);
        bad += !ok;
        free(flags);
        free(cands);
        free(rt);
        free(lt);
    }
    CHECK_MSG(bad == 0, "top-p differed from the reference in %d of 24 trials", bad);

    /* a flat 262144-token vocabulary: the nucleus is most of it, so the partial sort must grow
     * through many chunks and still agree with the full sort */
    const int big = 262144;
    float *lb = random_logits(&r, big, 0.5f);
    int *rb = reference_rank(lb, big);
    p = plain_params(1.0f, 3);
    p.top_p = 0.9f;
    s = make_sampler(&p, big);
    CHECK_OK(ct_sampler_candidates(s, lb, &c, &cn));
    check_set_is_prefix(c, cn, rb, reference_top_p(lb, rb, (size_t)big, 0.9), big, "top_p=0.9, 262k flat");
    ct_sampler_free(s);
    free(rb);
    free(lb);
    free(rank);
    free(l);
}

/* ---- min-p --------------------------------------------------------------------------------- */

static void test_min_p(void) {
    ct_test_rng r = {0x77};
    const int n = 3000;
    float *l = random_logits(&r, n, 6.0f);
    int *rank = reference_rank(l, n);
    const float mps[] = {0.05f, 0.3f, 1.0f};
    for (size_t t = 0; t < 3; t++) {
        ct_sampler_params p = plain_params(1.0f, 5);
        p.min_p = mps[t];
        ct_sampler *s = make_sampler(&p, n);
        const ct_token_logit *c;
        size_t cn;
        CHECK_OK(ct_sampler_candidates(s, l, &c, &cn));
        /* keep exactly the tokens with p_i >= min_p * p_max, i.e. l_i - l_max >= log(min_p) */
        size_t m = 0;
        while (m < (size_t)n && (double)l[rank[m]] - (double)l[rank[0]] >= log((double)mps[t])) m++;
        char what[64];
        snprintf(what, sizeof what, "min_p=%g", (double)mps[t]);
        check_set_is_prefix(c, cn, rank, m, n, what);
        CHECK(m >= 1 && m < (size_t)n); /* the test data really cuts */
        ct_sampler_free(s);
    }
    free(rank);
    free(l);
}

/* ---- penalties ----------------------------------------------------------------------------- */

static float penalized(float l, uint32_t count, float repeat, float presence, float frequency) {
    l = l <= 0.0f ? l * repeat : l / repeat;
    return l - ((float)count * frequency + (count > 0 ? presence : 0.0f));
}

static void test_penalties(void) {
    ct_test_rng r = {0x9999};
    enum { N = 50 };
    float *l = random_logits(&r, N, 3.0f);
    l[3] = 2.0f;  /* positive: divided */
    l[7] = -1.5f; /* negative: multiplied */
    l[9] = 0.0f;  /* zero counts as non-positive: multiplied (stays 0) */
    l[12] = -INFINITY;

    ct_sampler_params p = plain_params(1.0f, 1);
    p.repeat_penalty = 1.3f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    p.penalty_last_n = 64;
    ct_sampler *s = make_sampler(&p, N);
    const int32_t history[] = {3, 7, 3, 9, 3, 7, 12};
    for (size_t i = 0; i < sizeof history / sizeof history[0]; i++) CHECK_OK(ct_sampler_accept(s, history[i]));
    const ct_token_logit *c;
    size_t cn;
    CHECK_OK(ct_sampler_candidates(s, l, &c, &cn));
    CHECK(cn == N); /* filters off: even the masked token stays (it has zero weight in a draw) */
    float got[N];
    for (int i = 0; i < N; i++) got[i] = NAN;
    for (size_t i = 0; i < cn; i++) got[c[i].id] = c[i].logit;
    /* the formula evaluated in the same float operations: equal up to float rounding */
    CHECK_NEAR(got[3], penalized(2.0f, 3, 1.3f, 0.5f, 0.25f), 1e-6);
    CHECK_NEAR(got[3], 2.0 / 1.3 - (3 * 0.25 + 0.5), 1e-6); /* = 0.288461... */
    CHECK_NEAR(got[7], -1.5 * 1.3 - (2 * 0.25 + 0.5), 1e-6); /* = -2.95 */
    CHECK_NEAR(got[9], 0.0 - (1 * 0.25 + 0.5), 1e-6);        /* = -0.75 */
    CHECK(got[12] == -INFINITY);                             /* masked stays masked */
    int changed = 0;
    for (int i = 0; i < N; i++)
        if (i != 3 && i != 7 && i != 9 && i != 12) changed += got[i] != l[i];
    CHECK_MSG(changed == 0, "%d tokens outside the history changed", changed);
    ct_sampler_free(s);

    /* only the last penalty_last_n tokens count: window of 3 over {5, 5, 6, 7} is {5, 6, 7} */
    p.penalty_last_n = 3;
    p.repeat_penalty = 1.0f;
    s = make_sampler(&p, N);
    const int32_t h2[] = {5, 5, 6, 7};
    for (int i = 0; i < 4; i++) CHECK_OK(ct_sampler_accept(s, h2[i]));
    CHECK_OK(ct_sampler_candidates(s, l, &c, &cn));
    for (size_t i = 0; i < cn; i++) got[c[i].id] = c[i].logit;
    CHECK_NEAR(got[5], l[5] - (1 * 0.25 + 0.5), 1e-6);
    CHECK_NEAR(got[6], l[6] - (1 * 0.25 + 0.5), 1e-6);
    CHECK_NEAR(got[7], -1.5 - (1 * 0.25 + 0.5), 1e-6);
    /* reset forgets the history */
    ct_sampler_reset(s);
    CHECK_OK(ct_sampler_candidates(s, l, &c, &cn));
    for (size_t i = 0; i < cn; i++) got[c[i].id] = c[i].logit;
    CHECK(got[5] == l[5] && got[7] == l[7]);
    ct_clear_error();
    CHECK(ct_sampler_accept(s, N) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "token 50 is outside the vocabulary [0, 50)") != NULL);
    CHECK(ct_sampler_accept(s, -1) == CT_ERR_INVALID_ARGUMENT);
    ct_sampler_free(s);

    /* penalties come before top-k: a penalized best token drops out of a top-1 set */
    float ten[10] = {5.0f, 4.0f, 1.0f, 0.0f, -1.0f, 2.0f, 3.0f, -2.0f, 0.5f, 1.5f};
    p = plain_params(0.0f, 1);
    p.repeat_penalty = 100.0f;
    s = make_sampler(&p, 10);
    int32_t tok = -1;
    CHECK_OK(ct_sampler_sample(s, ten, &tok));
    CHECK(tok == 0);
    CHECK_OK(ct_sampler_accept(s, 0));
    CHECK_OK(ct_sampler_sample(s, ten, &tok));
    CHECK(tok == 1); /* greedy sees 5/100 = 0.05 < 4 */
    ct_sampler_free(s);
    p = plain_params(1.0f, 1);
    p.repeat_penalty = 100.0f;
    p.top_k = 1;
    s = make_sampler(&p, 10);
    CHECK_OK(ct_sampler_accept(s, 0));
    CHECK_OK(ct_sampler_candidates(s, ten, &c, &cn));
    CHECK(cn == 1 && c[0].id == 1);
    ct_sampler_free(s);

    /* a huge negative alpha saturates instead of producing +inf (which would poison softmax) */
    p = plain_params(1.0f, 1);
    p.frequency_penalty = -3e38f;
    s = make_sampler(&p, 10);
    CHECK_OK(ct_sampler_accept(s, 2));
    CHECK_OK(ct_sampler_accept(s, 2));
    CHECK_OK(ct_sampler_sample(s, ten, &tok));
    CHECK(tok == 2);
    ct_sampler_free(s);
    free(l);
}

/* ---- seeds --------------------------------------------------------------------------------- */

static void draw_sequence(uint64_t seed, const float *l, int n, int32_t *out, int count) {
    ct_sampler_params p = ct_sampler_params_default();
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    ct_sampler *s = make_sampler(&p, n);
    int failed = 0;
    for (int i = 0; i < count; i++) failed += (out[i] = draw(s, l)) < 0;
    CHECK(failed == 0);
    ct_sampler_reset(s); /* restarts the RNG: the same draws again */
    int diff = 0;
    for (int i = 0; i < count; i++) diff += draw(s, l) != out[i];
    CHECK_MSG(diff == 0, "after reset %d of %d draws differ", diff, count);
    ct_sampler_free(s);
}

static void test_seeds(void) {
    ct_test_rng r = {0x31337};
    const int n = 1000, count = 200;
    float *l = random_logits(&r, n, 1.0f);
    int32_t a[200], b[200], c[200];
    draw_sequence(1234, l, n, a, count);
    draw_sequence(1234, l, n, b, count);
    draw_sequence(1235, l, n, c, count);
    CHECK(memcmp(a, b, sizeof a) == 0);
    int same = 0;
    for (int i = 0; i < count; i++) same += a[i] == c[i];
    /* near-uniform over 1000 tokens: two independent streams agree ~0.2 times in 200 */
    CHECK_MSG(same < 10, "seeds 1234 and 1235 agree on %d of %d draws", same, count);
    free(l);
}

/* ---- hostile logits and corner cases ------------------------------------------------------- */

/* NaN or +inf at l[5], and no logits at all, are refused by name (l has 10 entries). */
static void check_bad_logits(ct_sampler *s, float *l) {
    int32_t tok = 123;
    l[5] = NAN;
    ct_clear_error();
    CHECK(ct_sampler_sample(s, l, &tok) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "logits[5] is nan") != NULL);
    l[5] = INFINITY;
    CHECK(ct_sampler_sample(s, l, &tok) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "logits[5] is inf") != NULL);
    CHECK(ct_sampler_sample(s, NULL, &tok) == CT_ERR_INVALID_ARGUMENT);
}

static void test_edge_cases(void) {
    ct_sampler_params p = plain_params(1.0f, 77);
    ct_sampler *s = make_sampler(&p, 10);
    float l[10];
    for (int i = 0; i < 10; i++) l[i] = -INFINITY;
    int32_t tok = 123;
    ct_clear_error();
    CHECK(ct_sampler_sample(s, l, &tok) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "all 10 logits are -inf") != NULL);
    l[2] = 0.0f;
    l[8] = 1.0f;
    int outside = 0;
    for (int d = 0; d < 500; d++) {
        tok = draw(s, l);
        outside += tok != 2 && tok != 8;
    }
    CHECK(outside == 0);
    check_bad_logits(s, l);
    ct_sampler_free(s);

    /* greedy without penalties takes a one-pass path: the same errors, and the same token as
     * greedy through the candidate set (a penalty that touches no token forces that path) */
    p = plain_params(0.0f, 77);
    s = make_sampler(&p, 10);
    ct_sampler_params pen = p;
    pen.presence_penalty = 1.0f; /* the window is empty: no logit changes */
    ct_sampler *s_pen = make_sampler(&pen, 10);
    for (int i = 0; i < 10; i++) l[i] = -INFINITY;
    ct_clear_error();
    CHECK(ct_sampler_sample(s, l, &tok) == CT_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ct_last_error(), "all 10 logits are -inf") != NULL);
    l[3] = -2.0f, l[7] = 5.0f, l[9] = 5.0f; /* a tie: the lower id */
    int32_t tok_pen = -1;
    CHECK_OK(ct_sampler_sample(s, l, &tok));
    CHECK_OK(ct_sampler_sample(s_pen, l, &tok_pen));
    CHECK(tok == 7 && tok_pen == 7);
    check_bad_logits(s, l);
    ct_sampler_free(s);
    ct_sampler_free(s_pen);

    /* all-equal logits with every filter on: min_p keeps all, top-k the lowest ids, draws cover them */
    p = ct_sampler_params_default();
    p.seed = 5;
    p.top_k = 4;
    s = make_sampler(&p, 64);
    float flat[64];
    for (int i = 0; i < 64; i++) flat[i] = 3.0f;
    int seen[4] = {0};
    outside = 0;
    for (int d = 0; d < 400; d++) {
        tok = draw(s, flat);
        if (tok >= 0 && tok < 4)
            seen[tok] = 1;
        else
            outside++;
    }
    CHECK(outside == 0 && seen[0] && seen[1] && seen[2] && seen[3]);
    ct_sampler_free(s);

    /* a one-token vocabulary, and a tiny temperature behaving like greedy */
    p = plain_params(1e-30f, 5);
    s = make_sampler(&p, 1);
    float one = -7.0f;
    CHECK_OK(ct_sampler_sample(s, &one, &tok));
    CHECK(tok == 0);
    ct_sampler_free(s);
    p.temperature = FLT_TRUE_MIN; /* 1/T is inf: must not turn into NaN */
    s = make_sampler(&p, 10);
    float ten[10] = {0.1f, 0.2f, 0.9f, 0.3f, 0.0f, -1.0f, 0.5f, 0.85f, 0.2f, 0.1f};
    int not_best = 0;
    for (int d = 0; d < 50; d++) not_best += draw(s, ten) != 2;
    CHECK(not_best == 0);
    ct_sampler_free(s);
}

/* ---- speed (informational) ----------------------------------------------------------------- */

static void report_speed(void) {
    /* Gemma-3 sized vocabulary with the default chain; printed, not asserted (CI machines vary) */
    ct_test_rng r = {0xbeef};
    const int n = 262144, tokens = 50;
    float *l = random_logits(&r, n, 6.0f);
    ct_sampler_params p = ct_sampler_params_default();
    p.seed = 1;
    p.repeat_penalty = 1.1f;
    ct_sampler *s = make_sampler(&p, n);
    clock_t t0 = clock();
    int failed = 0;
    for (int i = 0; i < tokens; i++) {
        int32_t tok = draw(s, l);
        failed += tok < 0 || ct_sampler_accept(s, tok) != CT_OK;
    }
    CHECK(failed == 0);
    double ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC / tokens;
    printf("default chain, vocab %d: %.3f ms per token\n", n, ms);
    ct_sampler_free(s);
    free(l);
}

int main(void) {
    test_rng_reference_vectors();
    test_params();
    test_greedy();
    test_temperature_distribution();
    test_top_k();
    test_top_p();
    test_min_p();
    test_penalties();
    test_seeds();
    test_edge_cases();
    report_speed();
    return ct_test_finish("test_sampler");
}
