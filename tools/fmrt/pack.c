/* Packed data sets (docs/data-pack.md). Placeholder until the reader lands. */
#include "cli.h"
#include "cli_data.h"

int cli_is_pack(const char *path)
{
    (void)path;
    return 0;
}
int cli_pack_open(const char *path, cli_data *d)
{
    (void)d;
    return cli_error("%s: packs are not read yet", path);
}
int cli_pack_rows(struct cli_pack *p, const uint32_t *idx, int n, uint8_t *px)
{
    (void)p, (void)idx, (void)n, (void)px;
    return 1;
}
void cli_pack_prefetch(struct cli_pack *p, const uint32_t *idx, int n)
{
    (void)p, (void)idx, (void)n;
}
void cli_pack_close(struct cli_pack *p)
{
    (void)p;
}
