/* The registry of sampling algorithms (sampler/algorithm.h), and the draw
 * columns they share. */
#include <string.h>

#include "sampler/algorithm.h"

/* In the order configs' help and messages list them, the default first. */
static const pmhmc_algorithm_ops *const REGISTRY[] = {
    &pmhmc_pmnuts_ops,
    &pmhmc_pmhmc_ops,
    &pmhmc_hnn_hmc_ops,
    &pmhmc_hnn_nuts_ops,
    &pmhmc_chees_ops,
};
enum { N_ALGORITHMS = sizeof REGISTRY / sizeof REGISTRY[0] };

const pmhmc_algorithm_ops *pmhmc_algorithm_ops_of(pmhmc_algorithm id)
{
    for (size_t i = 0; i < N_ALGORITHMS; ++i)
        if (REGISTRY[i]->info->id == id)
            return REGISTRY[i];
    return NULL;
}

int pmhmc_algorithm_is_lockstep(pmhmc_algorithm id)
{
    const pmhmc_algorithm_ops *ops = pmhmc_algorithm_ops_of(id);
    return ops && ops->after_round;
}

size_t pmhmc_algorithm_count(void) { return N_ALGORITHMS; }

const pmhmc_algorithm_info *pmhmc_algorithm_at(size_t i) { return i < N_ALGORITHMS ? REGISTRY[i]->info : NULL; }

const pmhmc_algorithm_info *pmhmc_algorithm_by_id(pmhmc_algorithm id)
{
    const pmhmc_algorithm_ops *ops = pmhmc_algorithm_ops_of(id);
    return ops ? ops->info : NULL;
}

const pmhmc_algorithm_info *pmhmc_algorithm_by_name(const char *name)
{
    for (size_t i = 0; name && i < N_ALGORITHMS; ++i)
        if (strcmp(REGISTRY[i]->info->name, name) == 0)
            return REGISTRY[i]->info;
    return NULL;
}

#define DEFINE_COLUMN_READER(field)                                                                               \
    double pmhmc_draw_column_##field(const pmhmc_draw *draw) { return (double)draw->field; }
#define DEFINE_FLAG_READER(field)                                                                                 \
    double pmhmc_draw_column_##field(const pmhmc_draw *draw) { return draw->field != 0 ? 1.0 : 0.0; }
PMHMC_DRAW_COLUMN_READERS(DEFINE_COLUMN_READER, DEFINE_FLAG_READER)
#undef DEFINE_COLUMN_READER
#undef DEFINE_FLAG_READER
