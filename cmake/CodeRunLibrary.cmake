# One static library per source folder, its dependencies declared, and the layering check.
#
#   coderun_library(<name> [DEPS <coderun libraries>...] [LINK <external targets>...]
#                   [TEST_LINK <extra targets for the folder's tests>...])
#
# builds lib<name>.a from the folder's *.cc (tests excluded) and, when the folder has
# *_test.cc files, one <name>_tests executable registered with ctest (label "unit"). The
# folder's include root is its parent-of-layer root (see INCLUDE_ROOT): controller folders
# include "kube/client.h", top-level ones "api/report.h".
#
# Every call records "<folder> <dep folders...>" in the global property CODERUN_LAYERS;
# coderun_layering_check() writes them to a file that tools/check_layering.py reads, so an
# #include of a folder that is not a declared (transitive) dependency fails the build.
# A folder's testing/ subfolder (fakes, test servers) is a header-only library named
# <name>_testing; only *_test.cc files and other testing/ folders may include one.

function(coderun_library name)
  cmake_parse_arguments(A "" "INCLUDE_ROOT" "DEPS;LINK;TEST_LINK" ${ARGN})
  if(NOT A_INCLUDE_ROOT)
    set(A_INCLUDE_ROOT ${CMAKE_CURRENT_SOURCE_DIR}/..)
  endif()
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER sources EXCLUDE REGEX "_test\\.cc$")
  list(FILTER sources EXCLUDE REGEX "/main\\.cc$")
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)

  if(sources)
    add_library(${name} STATIC ${sources})
    set(scope PUBLIC)
  else()
    add_library(${name} INTERFACE)
    set(scope INTERFACE)
  endif()
  target_include_directories(${name} ${scope} ${A_INCLUDE_ROOT})
  target_link_libraries(${name} ${scope} ${A_DEPS} ${A_LINK})

  set(testing_target "")
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/testing)
    set(testing_target ${name}_testing)
    add_library(${testing_target} INTERFACE)
    target_link_libraries(${testing_target} INTERFACE ${name} GTest::gtest GTest::gmock)
  endif()

  file(RELATIVE_PATH folder ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  list(JOIN A_DEPS "," deps)
  set_property(GLOBAL APPEND PROPERTY CODERUN_LAYERS "${folder}|${name}|${deps}")
  set_property(GLOBAL APPEND PROPERTY CODERUN_LAYER_DIRS ${CMAKE_CURRENT_SOURCE_DIR})

  if(tests)
    add_executable(${name}_tests ${tests})
    target_link_libraries(${name}_tests PRIVATE ${name} ${testing_target} ${A_TEST_LINK}
                          GTest::gtest GTest::gmock GTest::gtest_main)
    set(env "")
    if(CODERUN_SANITIZE)
      set(env "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp")
    endif()
    gtest_discover_tests(${name}_tests PROPERTIES LABELS unit ENVIRONMENT "${env}"
                         DISCOVERY_TIMEOUT 60)
  endif()
endfunction()

# Writes the recorded layers and adds the `layering` target (part of ALL): the build fails
# when a source includes a folder its library does not depend on, or when code outside tests
# includes a testing/ header.
function(coderun_layering_check)
  get_property(layers GLOBAL PROPERTY CODERUN_LAYERS)
  get_property(dirs GLOBAL PROPERTY CODERUN_LAYER_DIRS)
  set(file ${CMAKE_BINARY_DIR}/layers.txt)
  list(JOIN layers "\n" text)
  file(WRITE ${file}.in "${text}\n")
  configure_file(${file}.in ${file} COPYONLY)
  set(watched "")
  foreach(dir ${dirs})
    file(GLOB_RECURSE files CONFIGURE_DEPENDS ${dir}/*.h ${dir}/*.cc)
    list(APPEND watched ${files})
  endforeach()
  set(stamp ${CMAKE_BINARY_DIR}/layering.ok)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/check_layering.py
            --root ${PROJECT_SOURCE_DIR} --layers ${file}
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    DEPENDS ${watched} ${file} ${PROJECT_SOURCE_DIR}/tools/check_layering.py
    COMMENT "Checking the layering of #includes"
    VERBATIM)
  add_custom_target(layering ALL DEPENDS ${stamp})
endfunction()
