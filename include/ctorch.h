/* ctorch — fast LLM inference in C. The public C API.
 *
 * Every fallible function returns a ct_status; on failure, ct_last_error() returns a
 * thread-local message naming what went wrong and where (file, tensor, field, offset). */
#ifndef CTORCH_H
#define CTORCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_status {
    CT_OK = 0,
    CT_ERR_INVALID_ARGUMENT, /* a flag, parameter or request field is wrong */
    CT_ERR_IO,               /* a file could not be opened, read, mapped or written */
    CT_ERR_FORMAT,           /* a file is malformed: truncated, corrupted, hostile */
    CT_ERR_UNSUPPORTED,      /* well-formed but not something ctorch handles */
    CT_ERR_OUT_OF_MEMORY,    /* host or device allocation failed */
    CT_ERR_NOT_FOUND,        /* a key, tensor or file that was asked for is absent */
    CT_ERR_RANGE,            /* a value is outside its allowed range (context full, ...) */
    CT_ERR_DEVICE,           /* a GPU error, or no GPU */
    CT_ERR_INTERNAL,         /* a bug in ctorch */
} ct_status;

/* Short constant name of a status, e.g. "format error". */
const char *ct_status_name(ct_status status);

/* The message of the last failure on this thread ("" when none). */
const char *ct_last_error(void);

/* Library version string, e.g. "0.1.0". */
const char *ct_version(void);

/* ==== Models ================================================================================
 * A model is a GGUF file mapped into memory, its weights placed on a backend (on the CPU they
 * stay in the mapping, as quantized blocks), and its tokenizer. */
typedef int32_t ct_token;
typedef struct ct_model ct_model;

typedef struct ct_model_params {
    const char *backend; /* "cpu" or "cuda" (NULL means "cpu") */
    int32_t n_threads;   /* CPU threads; <= 0: one per online core */
} ct_model_params;

ct_model_params ct_model_params_default(void);

/* Errors: CT_ERR_NOT_FOUND / CT_ERR_IO (no such file, unreadable file), CT_ERR_FORMAT
 * (malformed file, a tensor whose shape disagrees with the metadata), CT_ERR_NOT_FOUND (a
 * tensor the architecture needs is missing), CT_ERR_UNSUPPORTED (an architecture, tensor
 * type or rope scaling ctorch lacks). Messages name the file and the tensor or key. */
ct_status ct_model_load(const char *path, const ct_model_params *params, ct_model **out);
void ct_model_free(ct_model *model);

typedef struct ct_model_info {
    const char *arch;     /* "llama", "qwen2", "gemma3", "gpt2" */
    const char *backend;  /* "cpu" */
    int32_t n_threads;
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff;
    uint64_t n_params;     /* weight elements */
    uint64_t weight_bytes; /* as stored */
} ct_model_info;
void ct_model_get_info(const ct_model *model, ct_model_info *info);

/* The model's Jinja chat template (tokenizer.chat_template), or NULL. */
const char *ct_model_chat_template(const ct_model *model);

/* ==== Tokens ================================================================================ */
/* Special tokens, -1 when the model has none. */
ct_token ct_token_bos(const ct_model *model);
ct_token ct_token_eos(const ct_model *model);
/* Does this token end generation (end of sequence or of turn)? */
bool ct_token_is_eog(const ct_model *model, ct_token token);

/* Tokens of text[0..len). add_special: BOS/EOS as the model's metadata asks; parse_special:
 * recognise control tokens written in the text (for chat templates, never for raw user text).
 * *tokens is malloc'd (free with ct_free). CT_ERR_UNSUPPORTED when the file has no vocabulary. */
ct_status ct_tokenize(const ct_model *model, const char *text, size_t len, bool add_special, bool parse_special,
                      ct_token **tokens, size_t *n_tokens);
/* Text of tokens (valid UTF-8, NUL-terminated, malloc'd: free with ct_free). */
ct_status ct_detokenize(const ct_model *model, const ct_token *tokens, size_t n_tokens, bool render_special,
                        char **text, size_t *len);
void ct_free(void *ptr);

/* Streaming detokenizer: push generated tokens one at a time and get back the text they
 * complete (a token that ends inside a UTF-8 sequence yields "" until it completes). The
 * returned text stays valid until the next call on d. */
typedef struct ct_detok ct_detok;
ct_status ct_detok_new(const ct_model *model, bool render_special, ct_detok **out);
const char *ct_detok_push(ct_detok *d, int32_t id, size_t *len);
const char *ct_detok_flush(ct_detok *d, size_t *len);
void ct_detok_free(ct_detok *d);

/* ==== Contexts and batches ==================================================================
 * A context holds the KV cache (preallocated: n_seq sequences of up to n_ctx positions) and
 * the activations for batches of up to n_batch tokens. One forward pass runs a batch: a flat
 * list of tokens, each with its sequence id, its position in that sequence, and whether its
 * logits are wanted. A prompt is a batch of one sequence; decoding is one token per sequence.
 * Each sequence's positions must continue where it left off (0, 1, 2, ...). The contexts of
 * one model share its backend (threads, scratch): decode on one of them at a time. */
typedef struct ct_context ct_context;

typedef enum ct_kv_type { CT_KV_F16 = 0, CT_KV_F32 = 1 } ct_kv_type;

typedef struct ct_context_params {
    int32_t n_ctx;      /* positions per sequence; 0: the model's training context, at most 4096 */
    int32_t n_batch;    /* most tokens per ct_decode; 0: min(n_ctx, 512) */
    int32_t n_seq;      /* sequences the cache holds; 0: 1 */
    ct_kv_type kv_type; /* F16 by default */
} ct_context_params;

ct_context_params ct_context_params_default(void);
ct_status ct_context_create(ct_model *model, const ct_context_params *params, ct_context **out);
void ct_context_free(ct_context *ctx);
int32_t ct_context_n_ctx(const ct_context *ctx);
int32_t ct_context_n_batch(const ct_context *ctx);

typedef struct ct_batch {
    int32_t n_tokens;
    int32_t capacity;
    ct_token *token;
    int32_t *pos;
    int32_t *seq_id;
    bool *logits; /* want this token's logits */
} ct_batch;

ct_status ct_batch_init(ct_batch *batch, int32_t capacity);
void ct_batch_free(ct_batch *batch);
void ct_batch_clear(ct_batch *batch);
/* CT_ERR_RANGE when the batch is full. */
ct_status ct_batch_add(ct_batch *batch, ct_token token, int32_t pos, int32_t seq_id, bool logits);

/* Run one forward pass. Errors (nothing is stored then): CT_ERR_INVALID_ARGUMENT for a token
 * outside the vocabulary, an unknown sequence id, a position that does not continue its
 * sequence, or more tokens than n_batch; CT_ERR_RANGE when a sequence would outgrow n_ctx. */
ct_status ct_decode(ct_context *ctx, const ct_batch *batch);
/* Logits (n_vocab floats) of token i of the last ct_decode batch; NULL unless it asked for them. */
const float *ct_get_logits(const ct_context *ctx, int32_t i);
/* Convenience for one sequence: append tokens to seq_id (in batches of up to n_batch) and
 * set *logits to the last token's logits (valid until the next decode). The errors of
 * ct_decode; on an error, the batches already run stay in the cache. */
ct_status ct_eval(ct_context *ctx, int32_t seq_id, const ct_token *tokens, size_t n_tokens, const float **logits);
/* Positions stored for a sequence (0 when empty or unknown). */
int32_t ct_seq_len(const ct_context *ctx, int32_t seq_id);
/* Forget a sequence's positions from len on (0 clears it). */
ct_status ct_seq_truncate(ct_context *ctx, int32_t seq_id, int32_t len);

/* ==== Chat templates ========================================================================
 * The model's chat template (tokenizer.chat_template) recognised as one of the families ctorch
 * renders (chatml, llama2, llama3, gemma, phi3), or a family forced by name. */
typedef struct ct_chat_template ct_chat_template;

typedef struct ct_message {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content; /* UTF-8 */
} ct_message;

/* name: NULL for the model's own template. CT_ERR_UNSUPPORTED when the model has no template
 * (or an unrecognised one) and no name is given; CT_ERR_INVALID_ARGUMENT for an unknown name. */
ct_status ct_chat_template_load(const ct_model *model, const char *name, ct_chat_template **out);
void ct_chat_template_free(ct_chat_template *t);
const char *ct_chat_template_name(const ct_chat_template *t);
/* The conversation as prompt text (tokenize it with add_special and parse_special); with
 * add_generation_prompt, ending with the opening of the assistant's turn. *text is malloc'd
 * (free with ct_free). */
ct_status ct_chat_render(const ct_chat_template *t, const ct_message *messages, size_t n_messages,
                         bool add_generation_prompt, char **text, size_t *len);
/* Tokens that end an assistant turn besides the model's end-of-generation tokens (those of the
 * template's stop strings that are single tokens of the vocabulary). *tokens is malloc'd. */
ct_status ct_chat_stop_tokens(const ct_chat_template *t, const ct_model *model, ct_token **tokens, size_t *n_tokens);

/* ==== Sampling ==============================================================================
 * Penalties, then greedy (temperature 0) or top-k, top-p, min-p, temperature and a seeded draw
 * (llama.cpp's default order). */
typedef struct ct_sampler ct_sampler;

typedef struct ct_sample_params {
    float temperature;       /* 0.8; 0: greedy */
    int32_t top_k;           /* 40; 0: off */
    float top_p;             /* 0.95; 1: off */
    float min_p;             /* 0.05; 0: off */
    float repeat_penalty;    /* 1.0: off */
    int32_t repeat_last_n;   /* 64: tokens the penalties look back over; 0: off */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    uint64_t seed;           /* UINT64_MAX: from the clock */
} ct_sample_params;

ct_sample_params ct_sample_params_default(void);
/* CT_ERR_INVALID_ARGUMENT naming a parameter outside its range. */
ct_status ct_sampler_new(const ct_model *model, const ct_sample_params *params, ct_sampler **out);
void ct_sampler_free(ct_sampler *s);
ct_status ct_sampler_sample(ct_sampler *s, const float *logits, int32_t *token);
/* Add a token to the penalties' history (prompt and generated tokens). */
ct_status ct_sampler_accept(ct_sampler *s, int32_t token);
/* Forget the history and restart the random stream from the seed. */
void ct_sampler_reset(ct_sampler *s);
uint64_t ct_sampler_seed(const ct_sampler *s);

/* ==== Engine: many requests, continuous batching ============================================
 * An engine serves many generation requests on one model at once. Each ct_engine_step() runs
 * one scheduler iteration, i.e. one forward pass over a batch that mixes the decode tokens of
 * running requests with chunks of prompts (chunked prefill); new requests are admitted
 * between steps while sequence slots and KV cache blocks allow (continuous batching). When
 * the paged KV cache runs out, the youngest (lowest priority) running request is preempted:
 * its blocks are freed and it is queued again, to recompute its prompt and generated tokens
 * later. No step fails for lack of KV memory, and a request that cannot fit even alone ends
 * with CT_FINISH_CONTEXT (or is refused at submission) instead of blocking the others.
 *
 * Tokens arrive through a per-request callback (called from ct_engine_step) and can be read
 * by polling (ct_engine_poll). With `deterministic`, every forward pass is batch-invariant: a
 * request's logits, and so its greedy output, are bit-identical whatever else shares its
 * batches (see docs/perf.md for the cost).
 *
 * An engine is used from one thread. It owns a context of the model (so do not decode on
 * other contexts of the same model in the middle of a step). */
typedef struct ct_engine ct_engine;
typedef int64_t ct_request_id; /* > 0 */

typedef struct ct_engine_params {
    int32_t n_parallel;       /* requests running at once (sequence slots); 0: 8 */
    int32_t n_ctx;            /* positions per request (prompt + generated); 0: the model's training context, at most 4096 */
    uint64_t kv_mem;          /* KV cache budget in bytes; 0: n_ctx * n_parallel positions (on a GPU at most 80% of its free memory) */
    int32_t kv_block_size;    /* KV cells per block; 0: 16 */
    int32_t max_batch_tokens; /* tokens per forward pass; 0: max(512, n_parallel); at least n_parallel */
    int32_t chunk_size;       /* most prompt tokens of one request per step; 0: max_batch_tokens */
    ct_kv_type kv_type;       /* F16 by default */
    bool deterministic;       /* batch-invariant forward passes */
    /* The engine's clock (timestamps of ct_request_info); NULL: a monotonic clock. Tests pass a
     * fake clock to make timings reproducible. */
    int64_t (*clock_ns)(void *user);
    void *clock_user;
} ct_engine_params;

ct_engine_params ct_engine_params_default(void);

/* Errors: CT_ERR_INVALID_ARGUMENT naming a parameter out of range, CT_ERR_RANGE when kv_mem is
 * too small for one block, CT_ERR_OUT_OF_MEMORY, and those of ct_context_create. */
ct_status ct_engine_create(ct_model *model, const ct_engine_params *params, ct_engine **out);
/* Frees every request still held (running ones are dropped without a final callback). */
void ct_engine_free(ct_engine *engine);

typedef enum ct_request_state {
    CT_REQUEST_QUEUED,   /* waiting for a slot and KV blocks (again, after a preemption) */
    CT_REQUEST_RUNNING,  /* holds a slot: prefilling or decoding */
    CT_REQUEST_FINISHED,
} ct_request_state;

typedef enum ct_finish_reason {
    CT_FINISH_NONE = 0,  /* not finished */
    CT_FINISH_EOG,       /* the model ended its text or turn (the token is not part of the output) */
    CT_FINISH_LENGTH,    /* max_tokens generated */
    CT_FINISH_STOP,      /* a stop string appeared (it and what follows are cut from the text) */
    CT_FINISH_CONTEXT,   /* n_ctx positions reached, or the KV cache cannot hold the request even alone */
    CT_FINISH_CANCELLED, /* ct_engine_cancel */
    CT_FINISH_ERROR,     /* see ct_request_info.error */
} ct_finish_reason;

/* "eog", "length", "stop", "context", "cancelled", "error" ("" for CT_FINISH_NONE). */
const char *ct_finish_reason_name(ct_finish_reason reason);

/* One generated token (or the end of a request), passed to the request's callback. */
typedef struct ct_engine_event {
    ct_request_id id;
    ct_token token;        /* the generated token; -1 on an end event that brings no token */
    int32_t index;         /* its index among the request's generated tokens (-1 with no token) */
    const char *text;      /* the text this event releases (a possible stop string's start is held back) */
    size_t text_len;
    const float *logits;   /* the n_vocab logits the token was sampled from (also for the EOG that
                            * ended a request), valid during the call; NULL when none */
    bool finished;         /* the request's last event */
    ct_finish_reason finish;
} ct_engine_event;

/* Called from ct_engine_step (or ct_engine_cancel). It may submit, cancel and release
 * requests; those take effect at the end of the step. */
typedef void (*ct_engine_callback)(const ct_engine_event *event, void *user);

typedef struct ct_request_params {
    const ct_token *prompt;   /* copied */
    size_t n_prompt;          /* >= 1 */
    ct_sample_params sample;  /* the prompt tokens enter the penalties' history */
    int32_t max_tokens;       /* most tokens to generate; 0: until end of generation or n_ctx */
    const char *const *stop;  /* stop strings (copied), may be NULL */
    size_t n_stop;
    bool ignore_eog;          /* keep generating past end-of-generation tokens (benchmarks) */
    int32_t priority;         /* higher runs first and is preempted last; 0 by default */
    ct_engine_callback callback; /* may be NULL: poll instead */
    void *user;
} ct_request_params;

/* Defaults: no prompt, ct_sample_params_default(), max_tokens 0, priority 0. */
ct_request_params ct_request_params_default(void);

/* Queue a request. Errors: CT_ERR_INVALID_ARGUMENT (empty prompt, a token outside the
 * vocabulary, a bad sampling parameter, an empty stop string), CT_ERR_RANGE when the prompt
 * alone does not fit n_ctx or the whole KV cache (the message gives the sizes). */
ct_status ct_engine_submit(ct_engine *engine, const ct_request_params *params, ct_request_id *id);

/* Stop a queued or running request: its KV blocks are freed and its callback gets a final
 * CT_FINISH_CANCELLED event. Finished requests are left as they are. CT_ERR_NOT_FOUND for an
 * unknown (or released) id. */
ct_status ct_engine_cancel(ct_engine *engine, ct_request_id id);

/* Run one scheduler iteration: admit, schedule, one forward pass, sample, deliver callbacks.
 * *n_tokens (may be NULL) receives the batch's token count (0 when there was nothing to do).
 * Errors of the forward pass (a device failure) leave every request as it was. */
ct_status ct_engine_step(ct_engine *engine, int32_t *n_tokens);

/* Whether any request is queued or running. */
bool ct_engine_busy(const ct_engine *engine);

/* Step until no request is queued or running. */
ct_status ct_engine_run(ct_engine *engine);

typedef struct ct_request_info {
    ct_request_state state;
    ct_finish_reason finish;   /* CT_FINISH_NONE until finished */
    const ct_token *tokens;    /* generated so far (valid until the next step, cancel or release) */
    size_t n_tokens;
    const char *text;          /* their text released so far: text_len bytes (NUL-terminated and final once finished) */
    size_t text_len;
    int32_t n_prompt;
    int32_t n_preemptions;     /* times it was preempted and queued again */
    const char *error;         /* CT_FINISH_ERROR / CT_FINISH_CONTEXT: why; else "" */
    int64_t submit_ns, first_token_ns, finish_ns; /* engine clock; -1 when not yet */
} ct_request_info;

/* The state of a request (poll it between steps). CT_ERR_NOT_FOUND for an unknown id. */
ct_status ct_engine_poll(const ct_engine *engine, ct_request_id id, ct_request_info *info);

/* Forget a request (cancelling it first if it is not finished). Finished requests are kept
 * until released. CT_ERR_NOT_FOUND for an unknown id. */
ct_status ct_engine_release(ct_engine *engine, ct_request_id id);

typedef struct ct_engine_stats {
    int64_t n_steps;
    int32_t n_queued, n_running, n_finished; /* requests held now */
    int32_t n_parallel, max_batch_tokens, chunk_size;
    int32_t kv_block_size, kv_blocks, kv_blocks_free;
    int64_t n_preemptions;
    int64_t n_prefill_tokens; /* prompt (and recomputed) tokens run */
    int64_t n_decode_tokens;  /* generated tokens fed back */
    int32_t last_batch_tokens, last_batch_seqs, last_batch_prefill_tokens, last_batch_logits;
} ct_engine_stats;

void ct_engine_get_stats(const ct_engine *engine, ct_engine_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* CTORCH_H */
