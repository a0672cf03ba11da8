/* gpt2-synth against its Hugging Face golden outputs: see model_golden.h. */
#include "model_golden.h"

int main(void) { return run_model_golden("gpt2-synth", "test_model_golden_gpt2"); }
