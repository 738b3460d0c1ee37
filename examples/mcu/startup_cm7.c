/* The least a Cortex-M7 needs to run mcu_sample's main: a vector table, .data
 * copied from flash, .bss cleared, the FPU switched on (the code is built for
 * the hard-float ABI, so the first float instruction would fault otherwise).
 * Clocks, caches and the MPU are a board's business. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
int main(void);

void Reset_Handler(void)
{
    /* SCB->CPACR: full access to coprocessors 10 and 11 (the FPU). Integer-only
     * code until the barriers. */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    for (uint32_t *s = _sidata, *d = _sdata; d < _edata;)
        *d++ = *s++;
    for (uint32_t *d = _sbss; d < _ebss;)
        *d++ = 0;
    main();
    for (;;)
        __asm__ volatile("wfi");
}

/* No heap. fmrt never allocates, but newlib-nano's snprintf/vsnprintf (which the
 * library's messages use) reference _malloc_r/_free_r/_realloc_r for asprintf's
 * growing buffers, a path snprintf never takes; the real allocator would drag in
 * _sbrk and a heap. These definitions win over libc's, and should anything ever
 * call them they refuse, counted in fm_mcu_heap_requests. */
struct _reent;
volatile uint32_t fm_mcu_heap_requests;

void *_malloc_r(struct _reent *r, size_t n)
{
    (void)r, (void)n;
    fm_mcu_heap_requests++;
    errno = ENOMEM;
    return NULL;
}

void *_realloc_r(struct _reent *r, void *p, size_t n)
{
    (void)p;
    return _malloc_r(r, n);
}

void _free_r(struct _reent *r, void *p)
{
    (void)r;
    if (p)
        fm_mcu_heap_requests++;
}

static void Default_Handler(void)
{
    for (;;)
        ;
}

/* Initial stack pointer, reset, then NMI .. SysTick (all parked). */
__attribute__((section(".isr_vector"), used)) void (*const fm_vectors[16])(void) = {
    (void (*)(void))_estack, Reset_Handler,   Default_Handler, Default_Handler,
    Default_Handler,         Default_Handler, Default_Handler, 0,
    0,                       0,               0,               Default_Handler,
    Default_Handler,         0,               Default_Handler, Default_Handler,
};
