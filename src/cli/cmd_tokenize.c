/* ctorch tokenize -m FILE [--ids | --pieces] [--no-bos] [--special] [TEXT]: print the tokens
 * of a text (stdin when no TEXT is given), or with --bench measure encoding speed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: ctorch tokenize -m FILE.gguf [--ids | --pieces] [--no-bos] [--special] [TEXT]\n"
            "       ctorch tokenize -m FILE.gguf --bench [-f TEXTFILE | TEXT]\n"
            "\n"
            "Prints the tokens of TEXT (or of standard input, or of -f TEXTFILE, byte for byte) with\n"
            "the model's tokenizer: one token per line, its id, a tab and its text (escaped).\n"
            "\n"
            "  -m, --model FILE  the GGUF file whose tokenizer to use\n"
            "  --ids             print only the ids, space-separated on one line\n"
            "  --pieces          print only the token texts, one per line\n"
            "  --no-bos          do not add the BOS/EOS tokens the model asks for\n"
            "  --special         recognise control tokens such as <|im_start|> written in the text\n"
            "  -f, --file PATH   read the text from PATH\n"
            "  --bench           encode the text repeatedly for about 2 s and print MB/s (CPU time)\n");
}

/* Read a whole stream; NULL on failure. */
static char *read_stream(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *grown = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
        if (!grown) {
            free(buf);
            return NULL;
        }
        buf = grown;
        cap *= 2;
    }
    if (buf && ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* A token's text for a terminal: printable UTF-8 as is, the rest escaped. */
static void print_escaped(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\n': fputs("\\n", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        default:
            if (c < 0x20 || c == 0x7F) printf("\\x%02X", c);
            else if (c < 0x80) putchar(c);
            else {
                /* a complete multi-byte character goes out whole; stray bytes are escaped */
                size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
                bool whole = len > 1 && i + len <= n;
                for (size_t k = 1; whole && k < len; k++) whole = ((unsigned char)s[i + k] & 0xC0) == 0x80;
                if (whole) {
                    fwrite(s + i, 1, len, stdout);
                    i += len - 1;
                } else {
                    printf("\\x%02X", c);
                }
            }
        }
    }
}

static double now_seconds(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Speed of one thread: measured in CPU time (clock()), which a busy machine distorts less
 * than wall time; both are printed. */
static int run_bench(const ct_tokenizer *tok, const char *text, size_t len, unsigned flags) {
    ct_tokens toks = {0};
    double start = now_seconds(), elapsed = 0;
    clock_t cpu_start = clock();
    int reps = 0;
    size_t n_tokens = 0;
    while (elapsed < 2.0 || reps < 3) {
        toks.count = 0;
        if (ct_tokenizer_encode(tok, text, len, flags, &toks) != CT_OK) {
            fprintf(stderr, "ctorch tokenize: %s\n", ct_last_error());
            ct_tokens_free(&toks);
            return 1;
        }
        n_tokens = toks.count;
        reps++;
        elapsed = now_seconds() - start;
    }
    double cpu = (double)(clock() - cpu_start) / CLOCKS_PER_SEC;
    ct_tokens_free(&toks);
    double mb = (double)len * reps / 1e6;
    printf("%zu bytes -> %zu tokens, %d runs: %.2f MB/s (%.0f tokens/s) in %.2f s CPU; %.2f MB/s in %.2f s wall\n",
           len, n_tokens, reps, mb / cpu, (double)n_tokens * reps / cpu, cpu, mb / elapsed, elapsed);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *text_arg = NULL, *file_arg = NULL;
    bool ids_only = false, pieces_only = false, bench = false;
    unsigned flags = CT_ENCODE_ADD_SPECIAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ctorch tokenize: %s needs a value\n\n", a);
                usage(stderr);
                return 2;
            }
            if (a[1] == 'm' || a[2] == 'm') model = argv[++i];
            else file_arg = argv[++i];
        } else if (!strcmp(a, "--ids")) {
            ids_only = true;
        } else if (!strcmp(a, "--pieces")) {
            pieces_only = true;
        } else if (!strcmp(a, "--no-bos")) {
            flags &= ~(unsigned)CT_ENCODE_ADD_SPECIAL;
        } else if (!strcmp(a, "--special")) {
            flags |= CT_ENCODE_PARSE_SPECIAL;
        } else if (!strcmp(a, "--bench")) {
            bench = true;
        } else if (!strcmp(a, "--")) {
            if (i + 1 < argc) text_arg = argv[++i];
            if (i + 1 < argc) {
                fprintf(stderr, "ctorch tokenize: one TEXT at a time (quote it)\n\n");
                usage(stderr);
                return 2;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ctorch tokenize: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        } else if (text_arg) {
            fprintf(stderr, "ctorch tokenize: one TEXT at a time (quote it): '%s' and '%s'\n\n", text_arg, a);
            usage(stderr);
            return 2;
        } else {
            text_arg = a;
        }
    }
    if (!model) {
        fprintf(stderr, "ctorch tokenize: missing -m FILE\n\n");
        usage(stderr);
        return 2;
    }
    if (ids_only && pieces_only) {
        fprintf(stderr, "ctorch tokenize: --ids and --pieces exclude each other\n\n");
        usage(stderr);
        return 2;
    }
    if (text_arg && file_arg) {
        fprintf(stderr, "ctorch tokenize: give TEXT or -f FILE, not both\n\n");
        usage(stderr);
        return 2;
    }

    char *owned = NULL;
    const char *text = text_arg;
    size_t len = text_arg ? strlen(text_arg) : 0;
    if (!text_arg) {
        FILE *in = file_arg ? fopen(file_arg, "rb") : stdin;
        if (!in) {
            fprintf(stderr, "ctorch tokenize: cannot open %s\n", file_arg);
            return 1;
        }
        owned = read_stream(in, &len);
        if (file_arg) fclose(in);
        if (!owned) {
            fprintf(stderr, "ctorch tokenize: cannot read %s\n", file_arg ? file_arg : "standard input");
            return 1;
        }
        text = owned;
    }

    gguf_file *file = NULL;
    ct_tokenizer *tok = NULL;
    int rc = 0;
    if (gguf_open(model, &file) != CT_OK || ct_tokenizer_load(file, &tok) != CT_OK) {
        fprintf(stderr, "ctorch tokenize: %s\n", ct_last_error());
        rc = 1;
    } else if (bench) {
        rc = run_bench(tok, text, len, flags);
    } else {
        ct_tokens toks = {0};
        if (ct_tokenizer_encode(tok, text, len, flags, &toks) != CT_OK) {
            fprintf(stderr, "ctorch tokenize: %s\n", ct_last_error());
            rc = 1;
        }
        for (size_t i = 0; rc == 0 && i < toks.count; i++) {
            if (ids_only) {
                printf(i ? " %d" : "%d", (int)toks.ids[i]);
                continue;
            }
            size_t plen;
            const char *piece = ct_tokenizer_piece(tok, toks.ids[i], true, &plen);
            if (!pieces_only) printf("%d\t", (int)toks.ids[i]);
            print_escaped(piece, plen);
            putchar('\n');
        }
        if (rc == 0 && ids_only) putchar('\n');
        ct_tokens_free(&toks);
    }
    ct_tokenizer_free(tok);
    gguf_close(file);
    free(owned);
    if (rc == 0 && fflush(stdout) != 0) rc = 1;
    return rc;
}
