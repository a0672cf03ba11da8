/* The parts of a chat template shared by detection (chat_detect.c) and rendering
 * (chat_render.c). Not for use outside src/chat/. */
#ifndef CT_CHAT_CHAT_TEMPLATE_INTERNAL_H
#define CT_CHAT_CHAT_TEMPLATE_INTERNAL_H

#include "chat/chat_template.h"

struct ct_chat_template {
    ct_chat_format format;
    char *bos_text, *eos_text;
    bool starts_with_bos;
    char *default_system;        /* chatml only; NULL when the template has none */
    bool phi3_original;          /* phi3: the original Phi-3-mini template */
    bool phi3_skip_empty_system; /* phi3: "system and message['content']" (Phi-3.5) */
};

#endif
