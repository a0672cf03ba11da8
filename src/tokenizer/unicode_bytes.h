/* UTF-8 helpers and GPT-2's byte <-> unicode mapping.
 *
 * Byte-level BPE vocabularies spell every byte as a printable code point: the printable
 * Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for themselves and the
 * other 68 bytes are numbered from U+0100 upward in byte order (so ' ' is 'Ġ' U+0120). */
#ifndef CT_TOKENIZER_UNICODE_BYTES_H
#define CT_TOKENIZER_UNICODE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Code point that byte b is spelled as. */
uint32_t tok_byte_to_cpt(uint8_t b);
/* The byte a code point spells, or -1 when it is not one of the 256. */
int tok_cpt_to_byte(uint32_t cpt);

/* Encode cpt (<= 0x10FFFF) as UTF-8 into out (4 bytes room); returns the length. */
size_t tok_utf8_encode(uint32_t cpt, char *out);

/* Length of the well-formed UTF-8 sequence at s[0..n) (1..4), or 0 when s starts with an
 * invalid or truncated sequence (overlongs, surrogates and > U+10FFFF are invalid).
 * *cpt receives the code point when valid. */
size_t tok_utf8_valid_len(const unsigned char *s, size_t n, uint32_t *cpt);

/* For s[0..n) that does not start with a well-formed sequence: how many leading bytes
 * agree with some well-formed sequence (0 when s[0] can start none, at most 3). When that
 * is all of s (== n), the sequence may only be incomplete; otherwise those bytes (at least
 * one) form the "maximal subpart" that decoders replace with a single U+FFFD. */
size_t tok_utf8_prefix_len(const unsigned char *s, size_t n);

/* Is s[0..n) entirely well-formed UTF-8? */
bool tok_utf8_is_valid(const char *s, size_t n);

#define TOK_REPLACEMENT_UTF8 "\xEF\xBF\xBD" /* U+FFFD */

#endif
