/* Defaults and validation of ct_sampler_params. */
#include <math.h>

#include "sample/sampler.h"

ct_sampler_params ct_sampler_params_default(void) {
    return (ct_sampler_params){
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .penalty_last_n = 64,
        .seed = CT_SAMPLER_SEED_RANDOM,
    };
}

ct_status ct_sampler_params_validate(const ct_sampler_params *p) {
    if (!p) return ct_fail(CT_ERR_INVALID_ARGUMENT, "sampler params must not be NULL");
    /* written as negations so that NaN fails every range check */
    if (!(isfinite(p->temperature) && p->temperature >= 0.0f))
        return ct_fail(CT_ERR_INVALID_ARGUMENT,
                       "temperature must be a finite number >= 0 (0 = greedy), got %g",
                       (double)p->temperature);
    if (p->top_k < 0)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "top_k must be >= 0 (0 = off), got %d",
                       (int)p->top_k);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "top_p must be in (0, 1] (1 = off), got %g",
                       (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "min_p must be in [0, 1] (0 = off), got %g",
                       (double)p->min_p);
    if (!(isfinite(p->repeat_penalty) && p->repeat_penalty > 0.0f))
        return ct_fail(CT_ERR_INVALID_ARGUMENT,
                       "repeat_penalty must be a finite number > 0 (1 = off), got %g",
                       (double)p->repeat_penalty);
    if (!isfinite(p->presence_penalty))
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "presence_penalty must be finite (0 = off), got %g",
                       (double)p->presence_penalty);
    if (!isfinite(p->frequency_penalty))
        return ct_fail(CT_ERR_INVALID_ARGUMENT,
                       "frequency_penalty must be finite (0 = off), got %g",
                       (double)p->frequency_penalty);
    if (p->penalty_last_n < 0 || p->penalty_last_n > CT_SAMPLER_MAX_PENALTY_LAST_N)
        return ct_fail(CT_ERR_INVALID_ARGUMENT, "penalty_last_n must be in [0, %d] (0 = off), got %d",
                       CT_SAMPLER_MAX_PENALTY_LAST_N, (int)p->penalty_last_n);
    return CT_OK;
}
