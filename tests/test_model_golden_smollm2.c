/* SmolLM2 against its Hugging Face golden outputs: see model_golden.h. */
#include "model_golden.h"

int main(void) { return run_model_golden("SmolLM2", "test_model_golden_smollm2"); }
