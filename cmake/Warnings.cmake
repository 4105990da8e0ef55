# Warning and sanitizer flags, applied to every target of the project.
add_compile_options(-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                    -Wno-unused-parameter -Wformat=2 -Wvla)
if(BANDITORE_WERROR)
  add_compile_options(-Werror)
endif()
if(BANDITORE_SANITIZE)
  string(REPLACE ";" "," _san "${BANDITORE_SANITIZE}")
  add_compile_options(-fsanitize=${_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_san})
  add_compile_definitions(BANDITORE_SANITIZED=1)
endif()
if(BANDITORE_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "BANDITORE_FUZZ needs clang (CC=clang)")
  endif()
  # Coverage instrumentation everywhere, so libFuzzer sees the edges of the
  # libraries under test; only the fuzz binaries link the fuzzer runtime.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
