#include "sampler/nuts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "math/philox.h"
#include "math/streams.h"
#include "math/portable_math.h"

/* A momentum-like quantity on the space the U-turn criterion looks at: the
 * theta part on the host, the u part a workspace vector (-1 in THETA mode). */
typedef struct momentum {
    double *theta; /* [dim] */
    int u;
} momentum;

/* A subtree's summary: momenta at its first and last leaves (in the order it
 * was built), their sum over all its leaves, its log weight, the slot of
 * the state it proposes, and the lowest and highest energy among its leaves
 * (for the energy-spread stop). */
typedef struct subtree {
    momentum p_beg, p_end, rho;
    double log_sum_weight;
    int slot;
    double H_min, H_max;
} subtree;

/* A proposal: a state and the energy it had with its momenta. */
typedef struct slot {
    pmhmc_nuts_state state;
    double H;
} slot;

struct pmhmc_nuts {
    const pmhmc_integrator *integ; /* its ws is read at each use: pmhmc_sampler_set_model replaces it */
    const double *sqrt_mass;
    size_t dim, max_depth;
    double max_delta_h;
    int extended;

    pmhmc_kdk_point ends[2]; /* [0] backward end, [1] forward end */
    slot *slots;             /* [max_depth + 1] */
    subtree top;             /* the subtree being added at the top */
    subtree *levels;         /* [max_depth]: levels[d] is the final half built at depth d >= 1 */
    subtree traj;            /* the trajectory so far, p_beg at its backward end */
    int sample_slot;
    double *host;

    const int *directions;
    pmhmc_nuts_leaf_fn leaf_fn;
    void *leaf_ctx;
    pmhmc_nuts_dynamics dyn; /* dyn.step NULL: the pseudo-marginal kick-drift-kick */
    double max_spread;       /* > 0: a subtree whose energies spread wider ends the tree */
};

/* One transition's bookkeeping. */
typedef struct tree_run {
    pmhmc_nuts *n;
    pmhmc_kdk_point *end; /* the end being extended */
    int forward;
    double h;             /* signed step */
    double H0;
    size_t n_leapfrog;
    double sum_metro_prob;
    int divergent;
    uint64_t seed, subtree_step;
    uint32_t chain, uniforms_used;
} tree_run;

int pmhmc_nuts_vectors(size_t max_depth, pmhmc_uturn uturn)
{
    int n = 6 + 2 * (int)(max_depth + 1);
    if (uturn == PMHMC_UTURN_EXTENDED)
        n += 3 * (int)(max_depth + 1);
    return n;
}

static void assign_momenta(subtree *s, double **host, int *vector, int extended, size_t dim)
{
    momentum *m[3] = {&s->p_beg, &s->p_end, &s->rho};
    for (int j = 0; j < 3; ++j) {
        m[j]->theta = *host;
        *host += dim;
        m[j]->u = extended ? (*vector)++ : -1;
    }
}

pmhmc_status pmhmc_nuts_create(const pmhmc_integrator *integ, const double *sqrt_mass, size_t max_depth,
                               double max_delta_h, pmhmc_uturn uturn, int first_vector, pmhmc_nuts **out)
{
    *out = NULL;
    if (max_depth < 1)
        return PMHMC_ERR_ARG;
    pmhmc_nuts *n = calloc(1, sizeof *n);
    if (!n)
        return PMHMC_ERR_NOMEM;
    const size_t dim = pmhmc_model_dim(integ->model);
    n->integ = integ;
    n->sqrt_mass = sqrt_mass;
    n->dim = dim;
    n->max_depth = max_depth;
    n->max_delta_h = max_delta_h;
    n->extended = uturn == PMHMC_UTURN_EXTENDED;
    n->slots = calloc(max_depth + 1, sizeof *n->slots);
    n->levels = calloc(max_depth, sizeof *n->levels);
    /* ends: theta, rho, grad; slots: theta, grad; 3 momenta per subtree
     * (the trajectory, the top one, levels 1 .. max_depth - 1) */
    n->host = calloc(dim * (6 + 2 * (max_depth + 1) + 3 * (max_depth + 1)), sizeof *n->host);
    if (!n->slots || !n->levels || !n->host) {
        pmhmc_nuts_free(n);
        return PMHMC_ERR_NOMEM;
    }
    double *h = n->host;
    int v = first_vector;
    for (int e = 0; e < 2; ++e) {
        pmhmc_kdk_point *x = &n->ends[e];
        x->z.theta = h, h += dim;
        x->z.rho = h, h += dim;
        x->grad = h, h += dim;
        x->z.u = v++;
        x->z.p = v++;
        x->grad_u = v++;
    }
    for (size_t s = 0; s <= max_depth; ++s) {
        pmhmc_nuts_state *st = &n->slots[s].state;
        st->theta = h, h += dim;
        st->grad = h, h += dim;
        st->u = v++;
        st->grad_u = v++;
    }
    assign_momenta(&n->traj, &h, &v, n->extended, dim);
    assign_momenta(&n->top, &h, &v, n->extended, dim);
    for (size_t d = 1; d < max_depth; ++d)
        assign_momenta(&n->levels[d], &h, &v, n->extended, dim);
    /* slot 0 starts as the sample, 1 as the top subtree's, 1 + d level d's */
    n->top.slot = 1;
    for (size_t d = 1; d < max_depth; ++d)
        n->levels[d].slot = (int)(d + 1);
    *out = n;
    return PMHMC_OK;
}

void pmhmc_nuts_free(pmhmc_nuts *n)
{
    if (!n)
        return;
    free(n->slots);
    free(n->levels);
    free(n->host);
    free(n);
}

void pmhmc_nuts_set_directions(pmhmc_nuts *n, const int *directions) { n->directions = directions; }

pmhmc_status pmhmc_nuts_set_dynamics(pmhmc_nuts *n, const pmhmc_nuts_dynamics *dyn)
{
    if (dyn && n->extended) /* its U-turn sums would read p vectors nobody writes */
        return PMHMC_ERR_ARG;
    if (dyn)
        n->dyn = *dyn;
    else
        memset(&n->dyn, 0, sizeof n->dyn);
    return PMHMC_OK;
}

void pmhmc_nuts_set_max_spread(pmhmc_nuts *n, double max_spread) { n->max_spread = max_spread; }

/* Whether energies from lo to hi spread wider than max_spread allows. */
static int too_spread(const pmhmc_nuts *n, double lo, double hi)
{
    return n->max_spread > 0.0 && !(hi - lo <= n->max_spread);
}

void pmhmc_nuts_set_leaf_fn(pmhmc_nuts *n, pmhmc_nuts_leaf_fn fn, void *ctx)
{
    n->leaf_fn = fn;
    n->leaf_ctx = ctx;
}

/* ---- states and momenta ---- */

static pmhmc_status copy_state(pmhmc_nuts *n, pmhmc_nuts_state *dst, const pmhmc_nuts_state *src)
{
    memcpy(dst->theta, src->theta, n->dim * sizeof *dst->theta);
    memcpy(dst->grad, src->grad, n->dim * sizeof *dst->grad);
    dst->log_prior = src->log_prior;
    dst->log_phat = src->log_phat;
    if (n->dyn.step) /* theta-only dynamics: u is the chain's, untouched */
        return PMHMC_OK;
    pmhmc_status st = pmhmc_ws_copy(n->integ->ws, dst->u, src->u);
    return st != PMHMC_OK ? st : pmhmc_ws_copy(n->integ->ws, dst->grad_u, src->grad_u);
}

static pmhmc_nuts_state state_of(const pmhmc_kdk_point *x)
{
    return (pmhmc_nuts_state){x->z.theta, x->grad, x->z.log_prior, x->z.log_phat, x->z.u, x->grad_u};
}

static pmhmc_status copy_point(pmhmc_nuts *n, pmhmc_kdk_point *dst, const pmhmc_kdk_point *src)
{
    pmhmc_nuts_state d = state_of(dst), s = state_of(src);
    pmhmc_status st = copy_state(n, &d, &s);
    dst->z.log_prior = src->z.log_prior;
    dst->z.log_phat = src->z.log_phat;
    memcpy(dst->z.rho, src->z.rho, n->dim * sizeof *dst->z.rho);
    return st != PMHMC_OK || n->dyn.step ? st : pmhmc_ws_copy(n->integ->ws, dst->z.p, src->z.p);
}

/* m <- the momenta (rho, p) of x. */
static pmhmc_status set_momentum(pmhmc_nuts *n, momentum *m, const pmhmc_kdk_point *x)
{
    memcpy(m->theta, x->z.rho, n->dim * sizeof *m->theta);
    return m->u >= 0 ? pmhmc_ws_copy(n->integ->ws, m->u, x->z.p) : PMHMC_OK;
}

static pmhmc_status add_momentum(pmhmc_nuts *n, momentum *dst, const momentum *src)
{
    for (size_t i = 0; i < n->dim; ++i)
        dst->theta[i] += src->theta[i];
    return dst->u >= 0 ? pmhmc_ws_axpy(n->integ->ws, dst->u, 1.0, src->u) : PMHMC_OK;
}

static double theta_dot(const pmhmc_nuts *n, const momentum *a, const momentum *b)
{
    const double *inv_mass = n->integ->inv_mass;
    double s = 0.0;
    for (size_t i = 0; i < n->dim; ++i)
        s += inv_mass[i] * a->theta[i] * b->theta[i];
    return s;
}

static void swap_momentum(momentum *a, momentum *b)
{
    momentum t = *a;
    *a = *b;
    *b = t;
}

static void swap_int(int *a, int *b)
{
    int t = *a;
    *a = *b;
    *b = t;
}

static double log_sum_exp(double a, double b)
{
    if (a == -INFINITY)
        return b;
    if (b == -INFINITY)
        return a;
    const double m = a > b ? a : b;
    return m + pmhmc_log(pmhmc_exp(a - m) + pmhmc_exp(b - m));
}

/* Merges B, built right after A in the same direction, into A and checks
 * the three criteria of base_nuts.hpp (compute_criterion: both end momenta,
 * made sharp by M^-1 with unit mass for u, point along the summed momentum):
 * around the merged tree, and across the seam from each side (A's sum with
 * B's first momentum, B's sum with A's last). The sums are taken by
 * linearity from ten dot products, the u parts in one backend pass. B keeps
 * A's old storage. */
static pmhmc_status merge(pmhmc_nuts *n, subtree *a, subtree *b, int *ok)
{
    const momentum *x[10] = {&b->p_beg, &b->p_beg, &a->p_beg, &a->p_beg, &b->p_end,
                             &b->p_end, &a->p_end, &a->p_end, &b->p_end, &a->p_beg};
    const momentum *y[10] = {&a->rho, &b->p_beg, &a->rho, &b->p_beg, &b->rho,
                             &a->p_end, &b->rho, &a->p_end, &a->rho, &b->rho};
    double d[10];
    int xu[10], yu[10];
    for (int i = 0; i < 10; ++i) {
        d[i] = theta_dot(n, x[i], y[i]);
        xu[i] = x[i]->u;
        yu[i] = y[i]->u;
    }
    pmhmc_status st;
    if (n->extended) {
        double du[10];
        if ((st = pmhmc_ws_dots(n->integ->ws, 10, xu, yu, du)) != PMHMC_OK)
            return st;
        for (int i = 0; i < 10; ++i)
            d[i] += du[i];
    }
    const int across_a = d[0] + d[1] > 0.0 && d[2] + d[3] > 0.0; /* A.rho + B.p_beg */
    const int across_b = d[4] + d[5] > 0.0 && d[6] + d[7] > 0.0; /* B.rho + A.p_end */
    const int around = d[8] + d[4] > 0.0 && d[2] + d[9] > 0.0;   /* A.rho + B.rho */
    if ((st = add_momentum(n, &a->rho, &b->rho)) != PMHMC_OK)
        return st;
    swap_momentum(&a->p_end, &b->p_end);
    *ok = around && across_a && across_b;
    return PMHMC_OK;
}

static double next_uniform(tree_run *t)
{
    return pmhmc_stream_uniform(t->seed, t->chain, t->subtree_step, t->uniforms_used++);
}

static pmhmc_status hamiltonian(pmhmc_nuts *n, const pmhmc_kdk_point *x, double *H)
{
    if (!isfinite(x->z.log_phat)) {
        *H = INFINITY;
        return PMHMC_OK;
    }
    pmhmc_status st = pmhmc_hamiltonian(n->integ, &x->z, H);
    if (isnan(*H))
        *H = INFINITY;
    return st;
}

/* ---- the tree ---- */

static pmhmc_status leaf(tree_run *t, subtree *s, int *valid)
{
    pmhmc_nuts *n = t->n;
    pmhmc_kdk_point *x = t->end;
    pmhmc_status st;
    double H;
    if (n->dyn.step) {
        if ((st = n->dyn.step(n->dyn.ctx, x, t->h, &H)) != PMHMC_OK)
            return st;
        if (isnan(H))
            H = INFINITY;
    } else if ((st = pmhmc_kdk_step(n->integ, x, t->h)) != PMHMC_OK || (st = hamiltonian(n, x, &H)) != PMHMC_OK) {
        return st;
    }
    const size_t index = t->n_leapfrog++;
    if (H - t->H0 > n->max_delta_h)
        t->divergent = 1;
    const double log_w = t->H0 - H;
    s->log_sum_weight = log_sum_exp(s->log_sum_weight, log_w);
    t->sum_metro_prob += log_w > 0.0 ? 1.0 : pmhmc_exp(log_w);
    if (n->leaf_fn) {
        pmhmc_nuts_leaf info = {index, t->forward, x->z.theta, x->z.rho, H, log_w};
        n->leaf_fn(n->leaf_ctx, &info);
    }
    *valid = !t->divergent;
    if (!*valid) /* the subtree is thrown away: nothing of it is kept */
        return PMHMC_OK;
    s->H_min = s->H_max = H;
    slot *sl = &n->slots[s->slot];
    pmhmc_nuts_state from = state_of(x);
    sl->H = H;
    if ((st = copy_state(n, &sl->state, &from)) != PMHMC_OK || (st = set_momentum(n, &s->p_beg, x)) != PMHMC_OK ||
        (st = set_momentum(n, &s->p_end, x)) != PMHMC_OK)
        return st;
    return set_momentum(n, &s->rho, x);
}

/* Builds 2^depth leaves into s (s->log_sum_weight starts at -inf); *valid
 * is 0 when a leaf diverged or a U-turn appeared inside. */
static pmhmc_status build_tree(tree_run *t, size_t depth, subtree *s, int *valid)
{
    if (depth == 0)
        return leaf(t, s, valid);
    pmhmc_nuts *n = t->n;
    pmhmc_status st = build_tree(t, depth - 1, s, valid);
    if (st != PMHMC_OK || !*valid)
        return st;
    subtree *f = &n->levels[depth];
    f->log_sum_weight = -INFINITY;
    if ((st = build_tree(t, depth - 1, f, valid)) != PMHMC_OK || !*valid)
        return st;

    /* The energy spread of the merged subtree: a function of its leaves
     * alone, so a stop on it keeps the tree reversible (as the U-turn
     * criterion does), unlike a comparison with where the transition began. */
    s->H_min = fmin(s->H_min, f->H_min);
    s->H_max = fmax(s->H_max, f->H_max);
    if (too_spread(n, s->H_min, s->H_max)) {
        t->divergent = 1;
        *valid = 0;
        return PMHMC_OK;
    }

    /* multinomial: the final half's state with its share of the weight */
    const double log_sum_weight = log_sum_exp(s->log_sum_weight, f->log_sum_weight);
    if (f->log_sum_weight > log_sum_weight || next_uniform(t) < pmhmc_exp(f->log_sum_weight - log_sum_weight))
        swap_int(&s->slot, &f->slot);
    s->log_sum_weight = log_sum_weight;
    return merge(n, s, f, valid);
}

pmhmc_status pmhmc_nuts_transition(pmhmc_nuts *n, pmhmc_nuts_state *current, double h, uint64_t seed,
                                   uint32_t chain, uint64_t iteration, pmhmc_nuts_result *result)
{
    pmhmc_status st;
    pmhmc_kdk_point *bck = &n->ends[0], *fwd = &n->ends[1];

    /* Both ends start at the current state with fresh momenta. */
    pmhmc_nuts_state fwd_state = state_of(fwd);
    if ((st = copy_state(n, &fwd_state, current)) != PMHMC_OK)
        return st;
    fwd->z.log_prior = current->log_prior;
    fwd->z.log_phat = current->log_phat;
    pmhmc_stream_normals(seed, chain, pmhmc_stream_step(iteration, PMHMC_DRAW_RHO), n->dim, fwd->z.rho);
    for (size_t i = 0; i < n->dim; ++i)
        fwd->z.rho[i] *= n->sqrt_mass[i];
    double H0;
    if (n->dyn.step)
        st = n->dyn.start(n->dyn.ctx, fwd, &H0);
    else if ((st = pmhmc_ws_normal(n->integ->ws, fwd->z.p, seed, chain, pmhmc_stream_step(iteration, PMHMC_DRAW_P))) ==
             PMHMC_OK)
        st = pmhmc_hamiltonian(n->integ, &fwd->z, &H0);
    if (st != PMHMC_OK ||
        (st = copy_point(n, bck, fwd)) != PMHMC_OK || (st = set_momentum(n, &n->traj.p_beg, fwd)) != PMHMC_OK ||
        (st = set_momentum(n, &n->traj.p_end, fwd)) != PMHMC_OK ||
        (st = set_momentum(n, &n->traj.rho, fwd)) != PMHMC_OK)
        return st;
    n->traj.H_min = n->traj.H_max = H0;

    tree_run t = {
        .n = n, .H0 = H0, .seed = seed, .chain = chain,
        .subtree_step = pmhmc_stream_step(iteration, PMHMC_DRAW_NUTS_SUBTREE),
    };
    const uint64_t direction_step = pmhmc_stream_step(iteration, PMHMC_DRAW_NUTS_DIRECTION);
    int sample_is_start = 1;
    double sample_H = H0, log_sum_weight = 0.0; /* the start's weight, exp(H0 - H0) */
    size_t depth = 0;
    pmhmc_nuts_stop stop = PMHMC_NUTS_STOP_MAX_DEPTH;
    while (depth < n->max_depth) {
        t.forward = n->directions ? n->directions[depth] != 0
                                  : pmhmc_stream_uniform(seed, chain, direction_step, (uint32_t)depth) > 0.5;
        t.end = t.forward ? fwd : bck;
        t.h = t.forward ? h : -h;
        n->top.log_sum_weight = -INFINITY;
        int valid;
        if ((st = build_tree(&t, depth, &n->top, &valid)) != PMHMC_OK)
            return st;
        if (!valid) {
            stop = t.divergent ? PMHMC_NUTS_STOP_DIVERGENCE : PMHMC_NUTS_STOP_UTURN;
            break;
        }
        ++depth;

        /* biased progressive sampling: favour the new subtree */
        if (n->top.log_sum_weight > log_sum_weight ||
            next_uniform(&t) < pmhmc_exp(n->top.log_sum_weight - log_sum_weight)) {
            swap_int(&n->sample_slot, &n->top.slot);
            sample_is_start = 0;
            sample_H = n->slots[n->sample_slot].H;
        }
        log_sum_weight = log_sum_exp(log_sum_weight, n->top.log_sum_weight);
        n->traj.H_min = fmin(n->traj.H_min, n->top.H_min);
        n->traj.H_max = fmax(n->traj.H_max, n->top.H_max);
        if (too_spread(n, n->traj.H_min, n->traj.H_max)) {
            t.divergent = 1;
            stop = PMHMC_NUTS_STOP_DIVERGENCE;
            break;
        }

        /* The trajectory keeps its momenta in time order (p_beg at the
         * backward end); merge() wants them in build order. */
        int ok;
        if (t.forward) {
            st = merge(n, &n->traj, &n->top, &ok);
        } else {
            subtree reversed = n->traj;
            reversed.p_beg = n->traj.p_end;
            reversed.p_end = n->traj.p_beg;
            st = merge(n, &reversed, &n->top, &ok);
            n->traj.p_beg = reversed.p_end;
            n->traj.p_end = reversed.p_beg;
        }
        if (st != PMHMC_OK)
            return st;
        if (!ok) {
            stop = PMHMC_NUTS_STOP_UTURN;
            break;
        }
    }

    if (!sample_is_start) {
        pmhmc_nuts_state *chosen = &n->slots[n->sample_slot].state;
        if ((st = copy_state(n, current, chosen)) != PMHMC_OK)
            return st;
        current->log_prior = chosen->log_prior;
        current->log_phat = chosen->log_phat;
    }
    result->accept_stat = t.n_leapfrog ? t.sum_metro_prob / (double)t.n_leapfrog : 0.0;
    result->energy = sample_H;
    result->depth = depth;
    result->n_leapfrog = t.n_leapfrog;
    result->divergent = t.divergent;
    result->stop = stop;
    return PMHMC_OK;
}

pmhmc_status pmhmc_nuts_trial_step(pmhmc_nuts *n, const pmhmc_nuts_state *current, double h, uint64_t seed,
                                   uint32_t chain, uint64_t rho_step, uint64_t p_step, double *delta_H)
{
    pmhmc_kdk_point *x = &n->ends[1];
    pmhmc_nuts_state to = state_of(x);
    pmhmc_status st = copy_state(n, &to, current);
    if (st != PMHMC_OK)
        return st;
    x->z.log_prior = current->log_prior;
    x->z.log_phat = current->log_phat;
    pmhmc_stream_normals(seed, chain, rho_step, n->dim, x->z.rho);
    for (size_t i = 0; i < n->dim; ++i)
        x->z.rho[i] *= n->sqrt_mass[i];
    double H0, H;
    if (n->dyn.step) {
        if ((st = n->dyn.start(n->dyn.ctx, x, &H0)) != PMHMC_OK || (st = n->dyn.step(n->dyn.ctx, x, h, &H)) != PMHMC_OK)
            return st;
        *delta_H = isfinite(H) ? H0 - H : -INFINITY;
        return PMHMC_OK;
    }
    if ((st = pmhmc_ws_normal(n->integ->ws, x->z.p, seed, chain, p_step)) != PMHMC_OK ||
        (st = pmhmc_hamiltonian(n->integ, &x->z, &H0)) != PMHMC_OK ||
        (st = pmhmc_kdk_step(n->integ, x, h)) != PMHMC_OK || (st = hamiltonian(n, x, &H)) != PMHMC_OK)
        return st;
    *delta_H = H0 - H;
    return PMHMC_OK;
}
