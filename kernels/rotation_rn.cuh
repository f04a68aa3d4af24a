/* The (u, p) rotation of src/math/rotation.h written with explicitly rounded
 * intrinsics, so nvcc cannot contract a product and a sum into one fma: in
 * double it then gives the CPU's bits exactly (the C build does not contract,
 * being compiled as ISO C11).
 *   (u, p) <- (u c + p s, p c - u s) */
#ifndef PMHMC_KERNELS_ROTATION_RN_CUH
#define PMHMC_KERNELS_ROTATION_RN_CUH

namespace pmhmc_cuda {

__device__ __forceinline__ void rotate_rn(double *u, double *p, double c, double s)
{
    const double u0 = *u, p0 = *p;
    *u = __dadd_rn(__dmul_rn(u0, c), __dmul_rn(p0, s));
    *p = __dsub_rn(__dmul_rn(p0, c), __dmul_rn(u0, s));
}

__device__ __forceinline__ void rotate_rn(float *u, float *p, float c, float s)
{
    const float u0 = *u, p0 = *p;
    *u = __fadd_rn(__fmul_rn(u0, c), __fmul_rn(p0, s));
    *p = __fsub_rn(__fmul_rn(p0, c), __fmul_rn(u0, s));
}

} // namespace pmhmc_cuda

#endif
