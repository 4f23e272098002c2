# The collection's commands. Each program also runs alone: java echo/Echo.java
#   make run-<name> [PORT=n]   start one server (daytime, echo, uppercase, chat, keepalive)
#   make test                  the JUnit suite, driving every program over loopback
#   make bench [QUICK=1]       the load generator against every server
#   make clean                 remove build output
# JAVA_HOME, when set, chooses the JDK (17 or newer); otherwise java and mvn come from PATH.

ifdef JAVA_HOME
JAVA := $(JAVA_HOME)/bin/java
export JAVA_HOME
else
JAVA := java
endif
MVN := mvn
PORT ?=

.PHONY: test bench clean check-java check-mvn \
	run-daytime run-echo run-uppercase run-chat run-keepalive

check-java:
	@command -v $(JAVA) >/dev/null 2>&1 || { echo "error: no JDK found: install JDK 17 or newer, or set JAVA_HOME" >&2; exit 1; }
	@v=$$($(JAVA) -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'); \
	case "$$v" in ""|1.*|9|1[0-6]) echo "error: JDK 17 or newer is needed, $(JAVA) is version $${v:-unknown}" >&2; exit 1;; esac

check-mvn:
	@command -v $(MVN) >/dev/null 2>&1 || { echo "error: Maven (mvn) is needed for the tests: install it (apt-get install maven)" >&2; exit 1; }

test: check-java check-mvn
	@echo "Testing with $$($(JAVA) -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.home = //p')"
	$(MVN) -B -ntp -f test/pom.xml test

bench: check-java
	$(JAVA) bench/Bench.java $(if $(QUICK),--quick)

run-daytime: check-java
	$(JAVA) daytime/Daytime.java $(PORT)

run-echo: check-java
	$(JAVA) echo/Echo.java $(PORT)

run-uppercase: check-java
	$(JAVA) uppercase/Uppercase.java $(PORT)

run-chat: check-java
	$(JAVA) chat/Chat.java $(PORT)

run-keepalive: check-java
	$(JAVA) keepalive/Keepalive.java $(if $(PORT),127.0.0.1 $(PORT))

clean:
	rm -rf test/target
