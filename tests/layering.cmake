# The library's layers, checked on the sources' #include "..." lines:
#   cmake -DROOT=<source dir> -P tests/layering.cmake
#
# Each folder may include headers of its own folder and of the folders listed for it
# below, nothing else; a header is found by its name (header names are unique across
# the library) and an include may not climb out of its folder ("../"). The op rows of
# the conformance harness (model/conformance/ops.c, rows.c and their headers) count as
# their own unit that needs only the runtime. Prints the folder graph it found; fails
# naming the first file and include that breaks a rule. The CMake targets enforce the
# same graph at build time (each layer's private include folders).
if(NOT ROOT)
  message(FATAL_ERROR "usage: cmake -DROOT=<fmrt source dir> -P layering.cmake")
endif()

set(units runtime kernels_ref kernels_cpu kernels_cl kernels_cuda model model/io conf_ops
          conf_model include dist formats tools/fmrt)
set(allow_runtime runtime)
set(allow_kernels_ref runtime)
set(allow_kernels_cpu runtime kernels_ref)
set(allow_kernels_cl runtime)
set(allow_kernels_cuda runtime)
set(allow_model runtime)
set(allow_model/io runtime model)
set(allow_conf_ops runtime)
set(allow_conf_model runtime model conf_ops)
set(allow_include runtime model model/io)
set(allow_dist runtime model model/io) # data parallel (MPI, NCCL): beside the library
set(allow_formats runtime model model/io) # formats that allocate (safetensors, cJSON): beside it
# The fmrt tool: every public layer, the conformance rows' tolerances, the dist and formats layers;
# never a backend's own headers (it names backends through the registry).
set(allow_tools/fmrt runtime model model/io conf_ops conf_model include dist formats)

# The unit a file belongs to.
function(unit_of path out)
  file(RELATIVE_PATH rel ${ROOT} ${path})
  get_filename_component(dir ${rel} DIRECTORY)
  get_filename_component(name ${rel} NAME)
  if(dir STREQUAL "model/conformance")
    if(name MATCHES "^(model\\.c|conformance_model\\.h)$")
      set(dir conf_model)
    else()
      set(dir conf_ops)
    endif()
  endif()
  set(${out} ${dir} PARENT_SCOPE)
endfunction()

# Every library source and header, and where each header name lives.
set(files)
foreach(d runtime kernels_ref kernels_cpu kernels_cl kernels_cuda model model/io model/conformance
          include dist formats tools/fmrt)
  file(GLOB f ${ROOT}/${d}/*.c ${ROOT}/${d}/*.h ${ROOT}/${d}/*.cu)
  list(APPEND files ${f})
endforeach()
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  if(name MATCHES "\\.h$")
    if(DEFINED home_${name})
      message(FATAL_ERROR "layering: header name ${name} is used twice (${home_${name}}, ${f})")
    endif()
    unit_of(${f} u)
    set(home_${name} ${u})
  endif()
endforeach()

set(edges)
set(bad 0)
foreach(f ${files})
  unit_of(${f} from)
  file(STRINGS ${f} lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line ${lines})
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*" "\\1" inc "${line}")
    file(RELATIVE_PATH rel ${ROOT} ${f})
    if(inc MATCHES "/")
      message(SEND_ERROR "layering: ${rel} includes \"${inc}\": include headers by name; "
                         "the target's include folders say which layers it may see")
      set(bad 1)
      continue()
    endif()
    if(NOT DEFINED home_${inc})
      continue() # generated (fm_mcu_weights.h) or a system header in quotes
    endif()
    set(to ${home_${inc}})
    if(to STREQUAL from)
      continue()
    endif()
    list(FIND allow_${from} ${to} ok)
    if(ok LESS 0)
      message(SEND_ERROR "layering: ${rel} (${from}) includes ${inc} (${to}); ${from} may see "
                         "only: ${from} ${allow_${from}}")
      set(bad 1)
    endif()
    list(APPEND edges "${from} -> ${to}")
  endforeach()
endforeach()
list(REMOVE_DUPLICATES edges)
list(SORT edges)
message(STATUS "layering: folder dependencies found in #include lines:")
foreach(e ${edges})
  message(STATUS "  ${e}")
endforeach()
if(bad)
  message(FATAL_ERROR "layering: rules broken (above)")
endif()
message(STATUS "layering: no include outside the allowed layers; the graph has no cycle")
