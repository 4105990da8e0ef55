# Every dependency is a Debian package, found with pkg-config where it has a .pc file.
# tools/deps.sh installs them; the package for each module is noted.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(URING    REQUIRED IMPORTED_TARGET liburing)        # liburing-dev
pkg_check_modules(CURL     REQUIRED IMPORTED_TARGET libcurl)         # libcurl4-openssl-dev
pkg_check_modules(JANSSON  REQUIRED IMPORTED_TARGET jansson)         # libjansson-dev
pkg_check_modules(XXHASH   REQUIRED IMPORTED_TARGET libxxhash)       # libxxhash-dev
pkg_check_modules(CRYPTO   REQUIRED IMPORTED_TARGET libcrypto)       # libssl-dev
pkg_check_modules(SSL      REQUIRED IMPORTED_TARGET libssl)          # libssl-dev (TLS of the native HTTP client)
pkg_check_modules(MHD      REQUIRED IMPORTED_TARGET libmicrohttpd)   # libmicrohttpd-dev
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)     # libutf8proc-dev
# nodejs/http-parser ships no .pc file in Debian: header and library by name.
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)             # libhttp-parser-dev
find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)
add_library(HttpParser::HttpParser UNKNOWN IMPORTED)
set_target_properties(HttpParser::HttpParser PROPERTIES
  IMPORTED_LOCATION ${HTTP_PARSER_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${HTTP_PARSER_INCLUDE_DIR})
if(BANDITORE_TESTS)
  pkg_check_modules(CRITERION REQUIRED IMPORTED_TARGET criterion)    # libcriterion-dev
endif()
if(BANDITORE_BENCH)
  pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3)         # libsqlite3-dev
endif()
