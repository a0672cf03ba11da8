/* ctorch inspect FILE [--json]: a GGUF file's summary, metadata and tensor table. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/inspect.h"
#include "gguf/gguf.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: ctorch inspect FILE.gguf [--json]\n"
            "\n"
            "Shows a GGUF file's model summary (architecture, sizes, tokenizer, file type), how many\n"
            "tensors and bytes each type holds, every metadata key (arrays by their first elements)\n"
            "and the tensor table (name, type, shape with the innermost dimension first, bytes, offset\n"
            "in the data section).\n"
            "\n"
            "  --json   print one JSON object instead of text\n");
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "ctorch inspect: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "ctorch inspect: one file at a time ('%s' and '%s')\n\n", path, argv[i]);
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "ctorch inspect: missing FILE\n\n");
        usage(stderr);
        return 2;
    }

    gguf_file *file;
    if (gguf_open(path, &file) != CT_OK) {
        fprintf(stderr, "ctorch inspect: %s\n", ct_last_error());
        return 1;
    }
    json_t *summary = inspect_summary_json(file);
    int rc = 0;
    if (!summary) {
        fprintf(stderr, "ctorch inspect: %s: out of memory building the summary\n", path);
        rc = 1;
    } else if (json) {
        if (json_dumpf(summary, stdout, JSON_INDENT(1) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(17)) != 0 ||
            fputc('\n', stdout) == EOF) {
            fprintf(stderr, "ctorch inspect: writing the JSON failed\n");
            rc = 1;
        }
    } else {
        inspect_print_text(stdout, summary);
    }
    json_decref(summary);
    gguf_close(file);
    if (rc == 0 && fflush(stdout) != 0) rc = 1;
    return rc;
}
