# The embedded subset of fmrt: what sampling needs and nothing that touches files,
# zlib, libpng or a GPU driver. Shared by the main build (host: the mcu_sample
# equality test) and examples/mcu (the Cortex-M7 cross build).
#
#   runtime/*.c        arena, tensors, ops and shape rules, dispatch, plan backend
#   kernels_ref/*.c    the reference backend
#   model/config.c unet.c dit.c layout.c flow.c plan.c   the networks, samplers, planner
#   model/io/weights.c the parser, built with FMRT_NO_ZLIB (table CRC-32 in
#                      model/io/crc32.c) and FMRT_NO_FILES (no fm_weights_save)
# Left out: io.c (POSIX files, gzip), image.c (libpng), checkpoint.c (its loader
# copies into the arena and its saver writes files; the embedded path loads in
# place with fm_unet_create_in_place), model/conformance.
set(FMRT_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)
file(GLOB FMRT_EMBEDDED_SRC CONFIGURE_DEPENDS ${FMRT_ROOT}/runtime/*.c ${FMRT_ROOT}/kernels_ref/*.c)
foreach(f config unet dit layout flow plan io/weights io/crc32)
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
