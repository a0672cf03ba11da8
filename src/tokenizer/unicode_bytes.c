#include "tokenizer/unicode_bytes.h"

static bool byte_is_printable_latin1(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_byte_to_cpt(uint8_t b) {
    if (byte_is_printable_latin1(b)) return b;
    /* the n-th non-printable byte (in byte order) maps to U+0100 + n */
    uint32_t n = 0;
    for (unsigned c = 0; c < b; c++)
        if (!byte_is_printable_latin1(c)) n++;
    return 0x100 + n;
}

int tok_cpt_to_byte(uint32_t cpt) {
    if (cpt < 0x100) return byte_is_printable_latin1(cpt) ? (int)cpt : -1;
    if (cpt >= 0x100 + 68) return -1;
    uint32_t n = cpt - 0x100;
    for (unsigned c = 0; c < 256; c++) {
        if (byte_is_printable_latin1(c)) continue;
        if (n-- == 0) return (int)c;
    }
    return -1;
}

size_t tok_utf8_encode(uint32_t cpt, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cpt < 0x80) {
        o[0] = (unsigned char)cpt;
        return 1;
    }
    if (cpt < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cpt >> 6));
        o[1] = (unsigned char)(0x80 | (cpt & 0x3F));
        return 2;
    }
    if (cpt < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cpt >> 12));
        o[1] = (unsigned char)(0x80 | ((cpt >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cpt & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cpt >> 18));
    o[1] = (unsigned char)(0x80 | ((cpt >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cpt >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cpt & 0x3F));
    return 4;
}

/* Allowed range of the second byte for a lead byte (Unicode Table 3-7). */
static bool second_byte_ok(unsigned lead, unsigned b) {
    switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF; /* no overlongs */
    case 0xED: return b >= 0x80 && b <= 0x9F; /* no surrogates */
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F; /* <= U+10FFFF */
    default: return b >= 0x80 && b <= 0xBF;
    }
}

static size_t sequence_len(unsigned lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

size_t tok_utf8_valid_len(const unsigned char *s, size_t n, uint32_t *cpt) {
    if (n == 0) return 0;
    unsigned lead = s[0];
    size_t len = sequence_len(lead);
    if (len == 0 || len > n) return 0;
    if (len == 1) {
        *cpt = lead;
        return 1;
    }
    if (!second_byte_ok(lead, s[1])) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    uint32_t c = lead & (0xFF >> (len + 1));
    for (size_t i = 1; i < len; i++) c = (c << 6) | (s[i] & 0x3F);
    *cpt = c;
    return len;
}

size_t tok_utf8_prefix_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    size_t len = sequence_len(s[0]);
    if (len <= 1) return 0;
    if (n < 2 || !second_byte_ok(s[0], s[1])) return 1;
    size_t i = 2;
    while (i < len && i < n && (s[i] & 0xC0) == 0x80) i++;
    return i; /* < len: a complete sequence would have been well-formed */
}

bool tok_utf8_is_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t c;
        size_t len = tok_utf8_valid_len(p + i, n - i, &c);
        if (!len) return false;
        i += len;
    }
    return true;
}
