/* The exact flow of the harmonic part of the u Hamiltonian (DESIGN §3). */
#ifndef PMHMC_MATH_ROTATION_H
#define PMHMC_MATH_ROTATION_H

#include "hd.h"

/* (u, p) <- R(a)(u, p) = (u cos a + p sin a, p cos a - u sin a), c = cos a,
 * s = sin a. */
PMHMC_HD void pmhmc_rotate_pair(double *u, double *p, double c, double s)
{
    double u0 = *u, p0 = *p;
    *u = u0 * c + p0 * s;
    *p = p0 * c - u0 * s;
}

#endif
