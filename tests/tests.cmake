# Every tests/test_*.c is one ctest executable linked against every layer
# (effbench_testing: white-box, private headers included).
# A test that wants a label other than "unit" says so in a first-line comment:
#   /* ctest-labels: slow;e2e */
file(GLOB EB_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/test_*.c)
set(EB_TEST_ENV "OPENBLAS_CORETYPE=Haswell;OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1")
foreach(src ${EB_TEST_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/check.c
                         ${CMAKE_SOURCE_DIR}/tests/learn.c)
  target_link_libraries(${name} PRIVATE effbench_testing)
  set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON)
  target_link_options(${name} PRIVATE -Wl,--whole-archive $<TARGET_FILE:effbench_core>
                      -Wl,--no-whole-archive)
  file(STRINGS ${src} first LIMIT_COUNT 1)
  set(labels unit)
  if(first MATCHES "ctest-labels: ([a-z0-9;_-]+)")
    set(labels ${CMAKE_MATCH_1})
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${labels}" ENVIRONMENT "${EB_TEST_ENV}"
                       SKIP_RETURN_CODE 77
                       WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
endforeach()

# The GEMM test again with OpenBLAS forced, so both backends are checked.
if(TARGET test_gemm)
  add_test(NAME test_gemm_openblas COMMAND test_gemm)
  set_tests_properties(test_gemm_openblas PROPERTIES LABELS unit
                       ENVIRONMENT "${EB_TEST_ENV};EFFBENCH_GEMM=openblas"
                       WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
endif()

# The gradient and attention tests again on the AVX2+FMA (level 3) and the
# portable (level 0) attention kernels: an AVX-512 machine would otherwise
# never run them (EFFBENCH_ATT_LEVEL caps the level picked from the CPU flags).
if(TARGET test_ops_grad)
  foreach(level 3 0)
    add_test(NAME test_ops_grad_att${level} COMMAND test_ops_grad)
    set_tests_properties(test_ops_grad_att${level} PROPERTIES LABELS unit
                         ENVIRONMENT "${EB_TEST_ENV};EFFBENCH_ATT_LEVEL=${level}"
                         WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  endforeach()
endif()

# Tests driven by scripts (CLI end-to-end, PyTorch golden checks).
file(GLOB EB_SCRIPT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/*.test.sh)
foreach(script ${EB_SCRIPT_TESTS})
  get_filename_component(fname ${script} NAME)
  string(REPLACE ".test.sh" "" name ${fname})
  file(STRINGS ${script} lines LIMIT_COUNT 3)
  set(labels e2e)
  foreach(l ${lines})
    if(l MATCHES "ctest-labels: ([a-z0-9;_-]+)")
      set(labels ${CMAKE_MATCH_1})
    endif()
  endforeach()
  add_test(NAME ${name} COMMAND bash ${script})
  set_tests_properties(${name} PROPERTIES LABELS "${labels}" SKIP_RETURN_CODE 77
    ENVIRONMENT "${EB_TEST_ENV};EFFBENCH=$<TARGET_FILE:effbench>;EB_SRC=${CMAKE_SOURCE_DIR};EB_BUILD=${CMAKE_BINARY_DIR}"
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
endforeach()

# Real shared objects for the registry tests: a good plugin, the same plugin
# recording a newer core API minor, another core API major and the plugin ABI
# generation 1 (no core API version), and one without an entry point.
add_library(eb_test_plugin_good MODULE ${CMAKE_SOURCE_DIR}/tests/plugins/tokenmlp.c)
add_library(eb_test_plugin_badabi MODULE ${CMAKE_SOURCE_DIR}/tests/plugins/tokenmlp.c)
target_compile_definitions(eb_test_plugin_badabi PRIVATE
  "TOKENMLP_ABI=(EFFBENCH_ABI_VERSION+1)" TOKENMLP_NAME="tokenmlp_v2")
add_library(eb_test_plugin_badmajor MODULE ${CMAKE_SOURCE_DIR}/tests/plugins/tokenmlp.c)
target_compile_definitions(eb_test_plugin_badmajor PRIVATE
  "TOKENMLP_ABI=EB_ABI_ENCODE(EB_PLUGIN_ABI,EB_CORE_API_MAJOR+1,0)"
  TOKENMLP_NAME="tokenmlp_major")
add_library(eb_test_plugin_abi1 MODULE ${CMAKE_SOURCE_DIR}/tests/plugins/tokenmlp.c)
target_compile_definitions(eb_test_plugin_abi1 PRIVATE TOKENMLP_ABI=1
                           TOKENMLP_NAME="tokenmlp_abi1")
add_library(eb_test_plugin_noentry MODULE ${CMAKE_SOURCE_DIR}/tests/plugins/noentry.c)
# tokenmlp broken on purpose, and with a kink, for check_cli.test.sh; with
# declared stats, and as a plugin built against the first ABI-1 header (no
# stat_decls: a shorter table), for test_registry and report_stats.test.sh
foreach(v BAD_BACKWARD BAD_FLOPS KINK STATS V1)
  string(TOLOWER ${v} lv)
  add_library(eb_test_plugin_${lv} MODULE ${CMAKE_SOURCE_DIR}/tests/plugins/tokenmlp.c)
  target_compile_definitions(eb_test_plugin_${lv} PRIVATE TOKENMLP_${v})
endforeach()
target_compile_definitions(eb_test_plugin_stats PRIVATE TOKENMLP_NAME="tokenmlp_stats")
target_compile_definitions(eb_test_plugin_v1 PRIVATE TOKENMLP_NAME="tokenmlp_v1")
foreach(t eb_test_plugin_good eb_test_plugin_badabi eb_test_plugin_badmajor
          eb_test_plugin_abi1 eb_test_plugin_noentry eb_test_plugin_bad_backward eb_test_plugin_bad_flops eb_test_plugin_kink
          eb_test_plugin_stats eb_test_plugin_v1)
  target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/include)
  set_target_properties(${t} PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY
                                                   ${CMAKE_BINARY_DIR}/test-plugins/${t})
endforeach()
if(TARGET test_registry)
  add_dependencies(test_registry eb_test_plugin_good eb_test_plugin_badabi
                   eb_test_plugin_badmajor eb_test_plugin_abi1 eb_test_plugin_noentry
                   eb_test_plugin_stats eb_test_plugin_v1)
  target_compile_definitions(test_registry PRIVATE
    PLUGIN_GOOD="$<TARGET_FILE:eb_test_plugin_good>"
    PLUGIN_STATS="$<TARGET_FILE:eb_test_plugin_stats>"
    PLUGIN_V1="$<TARGET_FILE:eb_test_plugin_v1>"
    PLUGIN_BADABI="$<TARGET_FILE:eb_test_plugin_badabi>"
    PLUGIN_BADMAJOR="$<TARGET_FILE:eb_test_plugin_badmajor>"
    PLUGIN_ABI1="$<TARGET_FILE:eb_test_plugin_abi1>"
    PLUGIN_NOENTRY="$<TARGET_FILE:eb_test_plugin_noentry>"
    PLUGIN_GOOD_DIR="$<TARGET_FILE_DIR:eb_test_plugin_good>")
endif()
# The public headers whose declarations test_core_api digests.
if(TARGET test_core_api)
  target_compile_definitions(test_core_api PRIVATE
    EB_INCLUDE_DIR="${CMAKE_SOURCE_DIR}/include/effbench")
endif()

# Test helper of golden_pair.test.sh: exports a pair (two-tower) model with one
# batch, as `effbench export --with-batch` does for single-input models.
add_executable(eb_golden_export_pair ${CMAKE_SOURCE_DIR}/tests/golden/export_pair.c
                                     ${CMAKE_SOURCE_DIR}/tests/check.c)
target_link_libraries(eb_golden_export_pair PRIVATE effbench_testing)

# Fuzzing (tests/fuzz): one entry function per parser, shared by the
# deterministic mutation test (always built) and, with -DEFFBENCH_FUZZ=ON and
# clang, one libFuzzer target per parser (fuzz_NAME; see docs/reliability.md).
set(EB_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)
set(EB_FUZZ_ENTRIES ${EB_FUZZ_DIR}/fuzz_common.c ${EB_FUZZ_DIR}/fuzz_yaml.c
    ${EB_FUZZ_DIR}/fuzz_listops.c ${EB_FUZZ_DIR}/fuzz_retrieval.c ${EB_FUZZ_DIR}/fuzz_text.c
    ${EB_FUZZ_DIR}/fuzz_idx.c ${EB_FUZZ_DIR}/fuzz_cifar.c ${EB_FUZZ_DIR}/fuzz_pathfinder.c
    ${EB_FUZZ_DIR}/fuzz_store.c ${EB_FUZZ_DIR}/fuzz_cache.c)
function(eb_fuzz_exe name)
  add_executable(${name} ${ARGN})
  target_include_directories(${name} PRIVATE ${EB_FUZZ_DIR})
  target_compile_definitions(${name} PRIVATE EB_FUZZ_DATA="${CMAKE_SOURCE_DIR}/tests/data"
                             EB_FUZZ_CORPUS="${EB_FUZZ_DIR}/corpus")
  target_link_libraries(${name} PRIVATE effbench_testing)
  target_link_options(${name} PRIVATE -Wl,--whole-archive $<TARGET_FILE:effbench_core>
                      -Wl,--no-whole-archive)
endfunction()
eb_fuzz_exe(fuzz_mutate ${EB_FUZZ_DIR}/mutate.c ${EB_FUZZ_ENTRIES})
add_test(NAME fuzz_mutate COMMAND fuzz_mutate)
set_tests_properties(fuzz_mutate PROPERTIES LABELS "slow;stress" TIMEOUT 1800
                     ENVIRONMENT "${EB_TEST_ENV}" WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
# a short run with other draws among the unit tests, so the ASan+UBSan stage of
# .ci/run (ctest -L unit) runs every parser on mutated inputs too
add_test(NAME fuzz_mutate_quick COMMAND fuzz_mutate --inputs 1000 --seed 2)
set_tests_properties(fuzz_mutate_quick PROPERTIES LABELS unit ENVIRONMENT "${EB_TEST_ENV}"
                     WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
if(EFFBENCH_FUZZ)
  foreach(t yaml listops retrieval text idx idxgz cifar pathfinder store cache)
    set(src ${EB_FUZZ_DIR}/fuzz_${t}.c)
    if(t STREQUAL "idxgz")
      set(src ${EB_FUZZ_DIR}/fuzz_idx.c)
    endif()
    eb_fuzz_exe(fuzz_${t} ${src} ${EB_FUZZ_DIR}/fuzz_common.c)
    target_compile_definitions(fuzz_${t} PRIVATE EB_LIBFUZZER)
    if(t STREQUAL "idxgz")
      target_compile_definitions(fuzz_${t} PRIVATE EB_FUZZ_GZ)
    endif()
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  endforeach()
endif()

# The layering (docs/engine.md, "Layers"): each layer's library compiles what
# it may include and does not find what it must not (tests/layers.sh).
set(EB_LAYER_ENV "CC=${CMAKE_C_COMPILER};EB_SRC=${CMAKE_SOURCE_DIR}")
foreach(layer util core archs tasks model results harness)
  list(APPEND EB_LAYER_ENV
       "EB_INC_${layer}=$<JOIN:$<TARGET_PROPERTY:effbench_${layer},INCLUDE_DIRECTORIES>,:>")
endforeach()
add_test(NAME layers COMMAND bash ${CMAKE_SOURCE_DIR}/tests/layers.sh)
set_tests_properties(layers PROPERTIES LABELS unit ENVIRONMENT "${EB_LAYER_ENV}")

# The allocator of malloc_fail.test.sh (LD_PRELOAD): fails the N-th allocation
# of the process. Not with the sanitizers, whose allocator must come first.
if(NOT EFFBENCH_SANITIZE AND NOT EFFBENCH_FUZZ)
  add_library(eb_failmalloc MODULE ${CMAKE_SOURCE_DIR}/tests/failmalloc/failmalloc.c)
  set_target_properties(eb_failmalloc PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY
                                                 ${CMAKE_BINARY_DIR}/test-plugins)
endif()
