/* ctorch synth: write a GGUF of a real model shape with seeded random weights. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "synth/hparams.h"
#include "synth/synth.h"
#include "synth/type_mix.h"
#include "synth/vocab.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: ctorch synth (--preset NAME | --arch ARCH --n-embd N --n-layer N --n-head N --n-ff N --n-vocab N)\n"
            "                    [--type TYPE] [--vocab FILE] [--seed N] [--layers N] [--threads N] -o OUT.gguf\n"
            "\n"
            "Writes a GGUF with the tensor names, shapes and metadata llama.cpp uses for a real model,\n"
            "filled with seeded random weights (for benchmarks and loader tests; the model says nothing).\n"
            "\n"
            "  --preset NAME     a real shape: %s\n"
            "  --type TYPE       %s (default q4_k_m).\n"
            "                    A single type is used for every weight matrix; q4_k_m is llama.cpp's mix\n"
            "                    (Q6_K output, Q6_K attn_v/ffn_down on llama.cpp's use_more_bits layers, Q4_K\n"
            "                    elsewhere). Norms and biases are F32. Rows that are not a multiple of a\n"
            "                    type's block fall back as llama-quantize does (Q4_K->Q5_0, Q6_K->Q8_0, ...).\n"
            "  --vocab FILE      copy the tokenizer.* keys of this GGUF (the vocabulary size follows it);\n"
            "                    without it a SentencePiece-style vocabulary is generated (<unk> <s> </s>,\n"
            "                    256 byte tokens, then synthetic pieces), so any text encodes\n"
            "  --seed N          random seed (default 1); the file depends only on the options, not on\n"
            "                    --threads\n"
            "  --layers N        override the number of layers\n"
            "  --threads N       generator threads (default: one per core)\n"
            "  --name TEXT       general.name\n"
            "  -o, --output OUT  file to write\n"
            "\n"
            "custom shapes (also override a preset's values):\n"
            "  --arch llama|qwen2|gemma3|gpt2  --n-embd N  --n-layer N  --n-head N  --n-head-kv N (default\n"
            "  n-head)  --head-dim N (gemma3; else n-embd/n-head)  --n-ff N  --n-vocab N  --ctx N (default\n"
            "  2048)  --rope-base X  --norm-eps X\n"
            "\n"
            "Weights: quantized tensors are written as random blocks directly (uniform random quants, with\n"
            "scales set so the dequantized weights have mean ~0 and deviation ~0.02) instead of drawing\n"
            "floats and running the k-quant scale search, which would take minutes for a 7B model. Float\n"
            "tensors are uniform with deviation 0.02; norm weights are 1 +- 0.05.\n",
            synth_preset_list(), synth_ftype_list());
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "ctorch synth: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see `ctorch synth --help`)\n");
    return 2;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out) {
    if (!s || !*s || *s == '-' || *s == '+') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, float *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || *end || !(v > 0.0f) || v != v) return false;
    *out = v;
    return true;
}

/* Size flags, applied after the base shape (preset or architecture defaults) is known. */
enum { F_EMBD, F_LAYER, F_HEAD, F_HEAD_KV, F_HEAD_DIM, F_FF, F_VOCAB, F_CTX, F_ROPE, F_EPS, N_SIZE_FLAGS };
static const char *const size_flag_names[N_SIZE_FLAGS] = {"--n-embd", "--n-layer", "--n-head", "--n-head-kv",
                                                          "--head-dim", "--n-ff", "--n-vocab", "--ctx",
                                                          "--rope-base", "--norm-eps"};

static int apply_sizes(synth_hparams *hp, const char *const values[N_SIZE_FLAGS]) {
    uint32_t *fields[F_ROPE] = {&hp->n_embd, &hp->n_layer, &hp->n_head, &hp->n_head_kv,
                                &hp->head_dim, &hp->n_ff, &hp->n_vocab, &hp->n_ctx};
    for (int i = 0; i < F_ROPE; i++) {
        if (!values[i]) continue;
        uint64_t v;
        if (!parse_u64(values[i], UINT32_MAX, &v)) {
            fprintf(stderr, "ctorch synth: %s needs a whole number, got '%s'\n", size_flag_names[i], values[i]);
            return 2;
        }
        *fields[i] = (uint32_t)v;
    }
    if (values[F_ROPE] && !parse_float(values[F_ROPE], &hp->rope_base))
        return usage_error("--rope-base needs a positive number, got '%s'", values[F_ROPE]);
    if (values[F_EPS] && !parse_float(values[F_EPS], &hp->norm_eps))
        return usage_error("--norm-eps needs a positive number, got '%s'", values[F_EPS]);
    return 0;
}

int cmd_synth(int argc, char **argv) {
    const char *preset = NULL, *arch = NULL, *type = "q4_k_m", *vocab = NULL, *out = NULL, *name = NULL;
    const char *seed_s = NULL, *layers_s = NULL, *threads_s = NULL;
    const char *sizes[N_SIZE_FLAGS] = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        const char **slot = NULL;
        if (!strcmp(a, "--preset")) slot = &preset;
        else if (!strcmp(a, "--arch")) slot = &arch;
        else if (!strcmp(a, "--type")) slot = &type;
        else if (!strcmp(a, "--vocab")) slot = &vocab;
        else if (!strcmp(a, "--seed")) slot = &seed_s;
        else if (!strcmp(a, "--layers")) slot = &layers_s;
        else if (!strcmp(a, "--threads")) slot = &threads_s;
        else if (!strcmp(a, "--name")) slot = &name;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) slot = &out;
        for (int k = 0; !slot && k < N_SIZE_FLAGS; k++)
            if (!strcmp(a, size_flag_names[k])) slot = &sizes[k];
        if (!slot) return usage_error("unknown option '%s'", a);
        if (i + 1 >= argc) return usage_error("%s needs a value", a);
        *slot = argv[++i];
    }
    if (!out) return usage_error("%s", "missing output file (-o OUT.gguf)");

    synth_hparams hp;
    if (preset) {
        if (synth_preset_find(preset, &hp) != CT_OK) return usage_error("%s", ct_last_error());
        if (arch && strcmp(arch, synth_arch_name(hp.arch)) != 0)
            return usage_error("--arch does not match the preset (its architecture is %s)", synth_arch_name(hp.arch));
    } else {
        if (!arch) return usage_error("%s", "give --preset NAME, or --arch and the sizes of a custom shape");
        synth_arch a;
        if (synth_arch_from_name(arch, &a) != CT_OK) return usage_error("%s", ct_last_error());
        synth_hparams_defaults(a, &hp);
        static const int required[] = {F_EMBD, F_LAYER, F_HEAD, F_FF};
        for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
            if (!sizes[required[k]] && !(required[k] == F_LAYER && layers_s))
                return usage_error("a custom shape needs %s", size_flag_names[required[k]]);
        if (!sizes[F_VOCAB] && !vocab) return usage_error("%s", "a custom shape needs --n-vocab N or --vocab FILE");
    }
    int rc = apply_sizes(&hp, sizes);
    if (rc) return rc;
    if (!preset && !sizes[F_HEAD_KV]) hp.n_head_kv = hp.n_head;
    if (sizes[F_EMBD] || sizes[F_HEAD]) {
        if (!sizes[F_HEAD_DIM]) hp.head_dim = 0; /* re-derive from the new sizes */
    }
    synth_hparams_complete(&hp);
    if (name) hp.name = name;

    synth_options opt = {.hp = hp, .vocab_path = vocab, .out_path = out, .seed = 1};
    uint64_t v;
    if (layers_s) {
        if (!parse_u64(layers_s, UINT32_MAX, &v)) return usage_error("--layers needs a whole number, got '%s'", layers_s);
        opt.hp.n_layer = (uint32_t)v;
    }
    if (seed_s) {
        if (!parse_u64(seed_s, UINT64_MAX, &v)) return usage_error("--seed needs a whole number, got '%s'", seed_s);
        opt.seed = v;
    }
    if (threads_s) {
        if (!parse_u64(threads_s, 1024, &v) || v == 0)
            return usage_error("--threads needs a number from 1 to 1024, got '%s'", threads_s);
        opt.n_threads = (int)v;
    }
    if (synth_ftype_parse(type, &opt.ftype) != CT_OK) return usage_error("%s", ct_last_error());

    /* shape errors are flag errors; with --vocab the vocabulary size is not known yet */
    synth_hparams check = opt.hp;
    if (vocab && check.n_vocab == 0) check.n_vocab = 1;
    if (synth_hparams_validate(&check) != CT_OK) return usage_error("%s", ct_last_error());
    if (!vocab && (check.n_vocab < SYNTH_VOCAB_MIN || check.n_vocab > synth_vocab_generate_max())) {
        fprintf(stderr,
                "ctorch synth: a generated vocabulary has %u to %u tokens (<unk> <s> </s>, 256 bytes, pieces); "
                "n_vocab is %u (or copy one with --vocab FILE)\n",
                SYNTH_VOCAB_MIN, synth_vocab_generate_max(), check.n_vocab);
        return 2;
    }

    synth_report rep;
    ct_status st = synth_write(&opt, &rep);
    if (st != CT_OK) {
        fprintf(stderr, "ctorch synth: %s\n", ct_last_error());
        return 1;
    }
    fprintf(stderr,
            "ctorch synth: wrote %s: %s %s, %llu tensors, %.1f M parameters, %.1f MiB of tensor data, vocab %u, "
            "seed %llu, %d threads, %.2f s\n",
            out, preset ? preset : synth_arch_name(opt.hp.arch), opt.ftype->name, (unsigned long long)rep.n_tensors,
            (double)rep.n_params / 1e6, (double)rep.data_bytes / (1024.0 * 1024.0), rep.n_vocab,
            (unsigned long long)opt.seed, rep.n_threads, rep.seconds);
    return 0;
}
