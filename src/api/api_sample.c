/* Public API: sampling (the sampler itself lives in src/sample). */
#include "ctorch.h"
#include "model/model.h"
#include "sample/sampler.h"

ct_sample_params ct_sample_params_default(void) {
    ct_sampler_params d = ct_sampler_params_default();
    return (ct_sample_params){.temperature = d.temperature,
                              .top_k = d.top_k,
                              .top_p = d.top_p,
                              .min_p = d.min_p,
                              .repeat_penalty = d.repeat_penalty,
                              .repeat_last_n = d.penalty_last_n,
                              .presence_penalty = d.presence_penalty,
                              .frequency_penalty = d.frequency_penalty,
                              .seed = d.seed};
}

ct_status ct_sampler_new(const ct_model *model, const ct_sample_params *params, ct_sampler **out) {
    *out = NULL;
    ct_sample_params p = params ? *params : ct_sample_params_default();
    ct_sampler_params sp = {.temperature = p.temperature,
                            .top_k = p.top_k,
                            .top_p = p.top_p,
                            .min_p = p.min_p,
                            .repeat_penalty = p.repeat_penalty,
                            .presence_penalty = p.presence_penalty,
                            .frequency_penalty = p.frequency_penalty,
                            .penalty_last_n = p.repeat_last_n,
                            .seed = p.seed};
    return ct_sampler_create(&sp, model->hp.n_vocab, out);
}
