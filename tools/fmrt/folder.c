/* A folder of PNG/JPEG images (cli_data.h). Placeholder until the reader lands. */
#include "cli.h"
#include "cli_data.h"

int cli_load_folder(const char *dir, const char *split, const cli_data_want *want, cli_data *d)
{
    (void)split, (void)want, (void)d;
    return cli_error("%s: image folders are not read yet", dir);
}
