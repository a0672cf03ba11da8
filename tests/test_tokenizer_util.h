/* Helpers for the tokenizer tests: the llama.cpp vector format (files are read with
 * ct_test_read_file from test_util.h). */
#ifndef CT_TEST_TOKENIZER_UTIL_H
#define CT_TEST_TOKENIZER_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A test case: input text and expected ids. */
typedef struct tt_case {
    const char *text;
    size_t text_len;
    int32_t *ids;
    size_t n_ids;
} tt_case;

/* Split `inp` (modified in place) on "\n__ggml_vocab_test__\n" and parse the lines of `out`
 * (space-separated ids). Returns the number of cases (-1 when the counts differ). */
static int tt_parse_vectors(char *inp, size_t inp_len, char *out, tt_case **cases_out) {
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sep_len = sizeof sep - 1;
    int n = 0, cap = 16;
    tt_case *cases = calloc((size_t)cap, sizeof *cases);
    size_t pos = 0;
    while (pos < inp_len) {
        char *next = strstr(inp + pos, sep);
        size_t end = next ? (size_t)(next - inp) : inp_len;
        if (n == cap) {
            cap *= 2;
            cases = realloc(cases, (size_t)cap * sizeof *cases);
        }
        cases[n].text = inp + pos;
        cases[n].text_len = end - pos;
        cases[n].ids = NULL;
        cases[n].n_ids = 0;
        n++;
        if (!next) break;
        pos = end + sep_len;
    }
    /* expected ids: one line per case */
    int line = 0;
    char *p = out;
    while (*p && line < n) {
        char *eol = strchr(p, '\n');
        if (eol) *eol = '\0';
        size_t cap_ids = 16;
        cases[line].ids = malloc(cap_ids * sizeof(int32_t));
        char *q = p;
        for (;;) {
            while (*q == ' ' || *q == '\r') q++;
            if (!*q) break;
            char *e;
            long v = strtol(q, &e, 10);
            if (e == q) break;
            if (cases[line].n_ids == cap_ids) {
                cap_ids *= 2;
                cases[line].ids = realloc(cases[line].ids, cap_ids * sizeof(int32_t));
            }
            cases[line].ids[cases[line].n_ids++] = (int32_t)v;
            q = e;
        }
        line++;
        if (!eol) break;
        p = eol + 1;
    }
    *cases_out = cases;
    if (line != n) return -1;
    return n;
}

static void tt_free_cases(tt_case *cases, int n) {
    for (int i = 0; i < n; i++) free(cases[i].ids);
    free(cases);
}

/* Print ids for a failure report. */
static void tt_print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "\n");
}

#endif
