# framework/http: the HTTP/1.1 server transport (libuv + http-parser) and
# URL decoding, and their unit tests. The core library already links
# $(HTTP_PARSER_LIBS).
framework_libdynkv_la_SOURCES += \
	framework/http/http.c framework/http/http_conn.c framework/http/http_write.c framework/http/http.h \
	framework/http/http_int.h framework/http/http_server.c \
	framework/http/http_budget.c framework/http/http_tls_io.c \
	framework/http/url.c framework/http/url.h \
	framework/http/tls.c framework/http/tls.h

check_PROGRAMS += tests/unit/test-http tests/unit/test-http-parse tests/unit/test-http-tls
TESTS += tests/unit/test-http tests/unit/test-http-parse tests/unit/test-http-tls

tests_unit_test_http_SOURCES = tests/unit/test-http.c tests/unit/tc_http.h
tests_unit_test_http_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_http_LDADD = $(DK_UNIT_LINK)

tests_unit_test_http_parse_SOURCES = tests/unit/test-http-parse.c
tests_unit_test_http_parse_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_http_parse_LDADD = $(DK_UNIT_LINK)

tests_unit_test_http_tls_SOURCES = tests/unit/test-http-tls.c tests/unit/tc_http.h
tests_unit_test_http_tls_CFLAGS = $(DK_UNIT_CC) $(SSL_CFLAGS)
tests_unit_test_http_tls_LDADD = $(DK_UNIT_LINK) $(SSL_LIBS) $(CRYPTO_LIBS)
