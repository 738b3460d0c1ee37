/* The architecture table: the one place that names every architecture (each defined
 * in its own file), and what a config needs from it: presets, validation, the arch=
 * field, formatting and the weights file's config slots. */
#include <stdio.h>
#include <string.h>

#include "model.h"

/* Every architecture, by the name of its fm_arch (fm_arch_<name>, defined in its own
 * file): adding one is one entry here. The order is the order of listings. */
#define FM_ARCHS(X) X(unet) X(dit) X(classifier) X(vae) X(clip)

#define FM_ARCH_EXTERN(a) extern const fm_arch fm_arch_##a;
FM_ARCHS(FM_ARCH_EXTERN)
#define FM_ARCH_ENTRY(a) &fm_arch_##a,
static const fm_arch *const archs[] = {FM_ARCHS(FM_ARCH_ENTRY)};
#define NARCH (sizeof archs / sizeof archs[0])

const fm_arch *fm_arch_find(const char *name)
{
    for (size_t i = 0; i < NARCH; i++)
        if (strcmp(archs[i]->name, name) == 0)
            return archs[i];
    return NULL;
}

const fm_arch *fm_arch_by_id(int id)
{
    for (size_t i = 0; i < NARCH; i++)
        if (archs[i]->id == id)
            return archs[i];
    return NULL;
}

const fm_arch *fm_arch_at(int i)
{
    return i >= 0 && i < (int)NARCH ? archs[i] : NULL;
}

const char *fm_arch_names(void)
{
    static char buf[128];
    if (!buf[0])
        for (size_t i = 0, k = 0; i < NARCH && k < sizeof buf; i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, i ? ", %s" : "%s", archs[i]->name);
    return buf;
}

fm_status fm_config_preset(fm_config *c, const char *name)
{
    for (size_t i = 0; i < NARCH; i++)
        for (const fm_preset *p = archs[i]->presets; p->name; p++)
            if (strcmp(p->name, name) == 0) {
                *c = p->cfg;
                c->arch = archs[i]->id;
                return FM_OK;
            }
    return FM_ERR_ARG;
}

const char *fm_preset_names(void)
{
    static char buf[256];
    if (!buf[0]) {
        size_t k = 0;
        for (size_t i = 0; i < NARCH; i++)
            for (const fm_preset *p = archs[i]->presets; p->name && k < sizeof buf; p++)
                k += (size_t)snprintf(buf + k, sizeof buf - k, k ? ", %s" : "%s", p->name);
    }
    return buf;
}

#define BAD(...) return (snprintf(msg, len, __VA_ARGS__), FM_ERR_ARG)

/* A field another architecture uses set in c: e.g. base_channels in a DiT config. */
static fm_status check_fields(const fm_arch *a, const fm_config *c, char *msg, size_t len)
{
    for (int k = 0; k < FM_CF_channel_mult; k++)
        if (!(a->fields & (1u << k)) && fm_config_field(c, k) != 0)
            BAD("%s does not apply to arch=%s", fm_config_field_name(k), a->name);
    if (!(a->fields & FM_FIELD(channel_mult)) && c->levels != 0)
        BAD("channel_mult does not apply to arch=%s", a->name);
    return FM_OK;
}

fm_status fm_config_validate(const fm_config *c, char *msg, size_t len)
{
    const fm_arch *a = fm_arch_by_id(c->arch);
    if (!a)
        BAD("arch %d unknown (known: %s)", c->arch, fm_arch_names());
    if (check_fields(a, c, msg, len) != FM_OK)
        return FM_ERR_ARG;
    /* in_channels and num_classes are every image model's (a text encoder has neither:
     * check_fields has found them 0). */
    if ((a->fields & FM_FIELD(in_channels)) && (c->in_channels < 1 || c->in_channels > 16))
        BAD("in_channels %d out of range 1..16", c->in_channels);
    if ((a->fields & FM_FIELD(num_classes)) && (c->num_classes < 0 || c->num_classes > 65535))
        BAD("num_classes %d out of range 0..65535", c->num_classes);
    return a->check(c, msg, len);
}

#undef BAD

fm_status fm_config_set(fm_config *c, const char *key, const char *value, char *msg, size_t len)
{
    if (strcmp(key, "arch") != 0)
        return fm_config_set_field(c, key, value, msg, len);
    const fm_arch *a = fm_arch_find(value);
    if (!a) {
        snprintf(msg, len, "arch: '%s' is not one of %s", value, fm_arch_names());
        return FM_ERR_ARG;
    }
    /* Another architecture: its default preset, so "arch=dit" first, then its fields. */
    if (a->id != c->arch) {
        *c = a->presets[0].cfg;
        c->arch = a->id;
    }
    return FM_OK;
}

int fm_config_format(const fm_config *c, char *buf, size_t len)
{
    const fm_arch *a = fm_arch_by_id(c->arch);
    size_t k = 0;
#define PUT(...) k += (size_t)snprintf(k < len ? buf + k : NULL, k < len ? len - k : 0, __VA_ARGS__)
    if (!a)
        return snprintf(buf, len, "arch=%d", c->arch);
    if (c->arch != 0)
        PUT("arch=%s", a->name);
    /* The fields in the order people read them: sizes, then widths, then classes. */
    static const int order[] = {FM_CF_in_channels, FM_CF_image,     FM_CF_patch,     FM_CF_hidden,
                                FM_CF_depth,       FM_CF_base_channels, FM_CF_channel_mult,
                                FM_CF_res_blocks,  FM_CF_time_dim,  FM_CF_heads,     FM_CF_freq_dim,
                                FM_CF_mlp_ratio,   FM_CF_groups,    FM_CF_latent_channels, FM_CF_num_classes,
                                FM_CF_text_tokenizer, FM_CF_text_vocab, FM_CF_text_ctx, FM_CF_text_width,
                                FM_CF_text_depth, FM_CF_text_heads, FM_CF_text_ff};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        int f = order[i];
        if (!(a->fields & (1u << f)))
            continue;
        if (f >= FM_CF_text_vocab && f <= FM_CF_text_tokenizer && c->text_depth == 0)
            continue; /* no text encoder: its fields are not part of the description */
        PUT("%s%s=", k ? " " : "", fm_config_field_name(f));
        if (f != FM_CF_channel_mult) {
            PUT("%d", fm_config_field(c, f));
            continue;
        }
        for (int l = 0; l < c->levels; l++)
            PUT(l ? ",%d" : "%d", c->channel_mult[l]);
    }
#undef PUT
    return (int)k;
}

/* ---- the weights file's config block ----------------------------------------------------- */

/* Slots of channel_mult: levels in 3, the multipliers in 4..7. */
enum { SLOT_LEVELS = 3, SLOT_MULT = 4 };

void fm_config_pack(const fm_config *c, int32_t v[FM_CONFIG_SLOTS])
{
    const fm_arch *a = fm_arch_by_id(c->arch);
    const uint32_t fields = a ? a->fields : 0;
    memset(v, 0, FM_CONFIG_SLOTS * sizeof v[0]);
#define PACK(f, slot)                                                                              \
    if (fields & FM_FIELD(f))                                                                      \
        v[slot] = c->f;
    FM_CONFIG_INTS(PACK)
#undef PACK
    if (fields & FM_FIELD(channel_mult)) {
        v[SLOT_LEVELS] = c->levels;
        for (int l = 0; l < FM_MAX_LEVELS; l++)
            v[SLOT_MULT + l] = l < c->levels ? c->channel_mult[l] : 0;
    }
    v[FM_CONFIG_SLOT_ARCH] = c->arch;
}

void fm_config_unpack(const int32_t v[FM_CONFIG_SLOTS], fm_config *c)
{
    memset(c, 0, sizeof *c);
    c->arch = v[FM_CONFIG_SLOT_ARCH];
    const fm_arch *a = fm_arch_by_id(c->arch);
    const uint32_t fields = a ? a->fields : 0;
#define UNPACK(f, slot)                                                                            \
    if (fields & FM_FIELD(f))                                                                      \
        c->f = v[slot];
    FM_CONFIG_INTS(UNPACK)
#undef UNPACK
    if (fields & FM_FIELD(channel_mult)) {
        c->levels = v[SLOT_LEVELS];
        for (int l = 0; l < FM_MAX_LEVELS; l++)
            c->channel_mult[l] = v[SLOT_MULT + l];
    }
}

int fm_config_slot_used(const fm_config *c, int i)
{
    const fm_arch *a = fm_arch_by_id(c->arch);
    const uint32_t fields = a ? a->fields : 0;
    int used = i == FM_CONFIG_SLOT_ARCH ||
               ((fields & FM_FIELD(channel_mult)) && i >= SLOT_LEVELS && i < SLOT_MULT + c->levels);
#define USED(f, slot) used |= slot == i && (fields & FM_FIELD(f));
    FM_CONFIG_INTS(USED)
#undef USED
    return used;
}
