# The embedded subset of fmrt: what sampling needs and nothing that touches files,
# zlib, libpng or a GPU driver. Shared by the main build (host: the mcu_sample
# equality test) and examples/mcu (the Cortex-M7 cross build).
#
#   runtime/*.c        arena, tensors, ops and shape rules, dispatch, plan backend
#   kernels_ref/*.c    the reference backend
#   model/*.c          the model, every architecture, samplers, planner
#   model/io/weights_read.c  the parser, views and checks (memory only), built with
#                            FMRT_NO_ZLIB (table CRC-32 in model/io/crc32.c)
# Left out: weights_write.c (fm_weights_save, through file.c), file.c (POSIX files),
# idx.c (IDX data, gzip), image.c (libpng), checkpoint.c and classifier_io.c (their
# loaders copy into the arena and their savers write files; the embedded path loads
# in place with fm_model_create_in_place), model/conformance. FMRT_NO_FILES marks a
# build without a file system; none of the files above needs it since the weights
# writer has a file of its own, but classifier_io.c still honours it.
set(FMRT_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)
file(GLOB FMRT_EMBEDDED_SRC CONFIGURE_DEPENDS ${FMRT_ROOT}/runtime/*.c ${FMRT_ROOT}/kernels_ref/*.c
     ${FMRT_ROOT}/model/*.c)
foreach(f io/weights_read io/crc32)
  list(APPEND FMRT_EMBEDDED_SRC ${FMRT_ROOT}/model/${f}.c)
endforeach()

function(fmrt_add_embedded_library name)
  add_library(${name} STATIC ${FMRT_EMBEDDED_SRC})
  target_include_directories(${name} PUBLIC ${FMRT_ROOT}/runtime ${FMRT_ROOT}/model ${FMRT_ROOT}/model/io)
  target_compile_definitions(${name} PUBLIC FMRT_NO_ZLIB FMRT_NO_FILES)
  target_compile_options(${name} PRIVATE -Wall -Wextra -Werror)
  target_link_libraries(${name} PUBLIC m)
endfunction()

# The sampler of examples/mcu over the generated weights in ${gen_dir}
# (fm_mcu_weights.c/.h from embed_weights), linked against the embedded library lib.
set(FMRT_MCU_SAMPLES 4 CACHE STRING "images examples/mcu samples")
set(FMRT_MCU_STEPS 8 CACHE STRING "Euler steps of examples/mcu")
set(FMRT_MCU_SEED 7 CACHE STRING "noise seed of examples/mcu")
function(fmrt_add_mcu_sample name lib gen_dir)
  add_executable(${name} ${FMRT_ROOT}/examples/mcu/mcu_sample.c ${gen_dir}/fm_mcu_weights.c)
  target_include_directories(${name} PRIVATE ${gen_dir})
  target_compile_definitions(${name} PRIVATE FM_MCU_SAMPLES=${FMRT_MCU_SAMPLES}
                             FM_MCU_STEPS=${FMRT_MCU_STEPS} FM_MCU_SEED=${FMRT_MCU_SEED})
  target_compile_options(${name} PRIVATE -Wall -Wextra -Werror)
  target_link_libraries(${name} PRIVATE ${lib})
endfunction()
