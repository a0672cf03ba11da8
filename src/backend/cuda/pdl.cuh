/* Programmatic dependent launch (sm_90): a kernel launched with
 * cudaLaunchAttributeProgrammaticStreamSerialization may start while the kernel before it in
 * the stream still runs, once every block of that one has called ct_pdl_trigger (or exited).
 * It must call ct_pdl_wait before it reads anything the earlier kernel wrote or writes
 * anything that kernel reads: the wait returns when the earlier grid has completed and its
 * memory is visible. The decode GEMV (mmv_direct.cuh) uses this to issue its weight loads,
 * which depend on nothing, during the kernel before it (norm, attention, the previous GEMV),
 * hiding its launch and first memory latency. Kernels not launched that way return at once
 * from the wait; the trigger is harmless in any kernel. */
#ifndef CT_BACKEND_CUDA_PDL_CUH
#define CT_BACKEND_CUDA_PDL_CUH

__device__ __forceinline__ void ct_pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void ct_pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

#endif
