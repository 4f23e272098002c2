# The collection's commands. Each program also runs alone: java echo/Echo.java
#   make run-<name> [PORT=n]   start one server (daytime, echo, uppercase, chat, keepalive)
#   make build                 compile each program once into build/<dir>/: java -cp build/echo Echo
#   make test                  the JUnit suite, driving every program over loopback
#   make bench [QUICK=1]       the load generator (bench/, compiled into build/bench/) against every server
#   make clean                 remove build output
# JAVA_HOME, when set, chooses the JDK (17 or newer); otherwise java comes from PATH.
# The tests need nothing else: ./mvnw fetches the Maven it pins from Maven Central once.

ifdef JAVA_HOME
JAVA := $(JAVA_HOME)/bin/java
JAVAC := $(JAVA_HOME)/bin/javac
export JAVA_HOME
else
JAVA := java
JAVAC := javac
endif
MVN := ./mvnw
PORT ?=
PROGRAMS := daytime/Daytime echo/Echo uppercase/Uppercase chat/Chat keepalive/Keepalive

.PHONY: test bench build clean check-java \
	run-daytime run-echo run-uppercase run-chat run-keepalive

check-java:
	@command -v $(JAVA) >/dev/null 2>&1 || { echo "error: no JDK found: install JDK 17 or newer, or set JAVA_HOME" >&2; exit 1; }
	@v=$$($(JAVA) -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'); \
	case "$$v" in ""|1.*|9|1[0-6]) echo "error: JDK 17 or newer is needed, $(JAVA) is version $${v:-unknown}" >&2; exit 1;; esac

test: check-java
	@echo "Testing with $$($(JAVA) -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.home = //p')"
	$(MVN) -B -ntp -f test/pom.xml test

# One class directory per program, compiled for the JDK 17 floor: a JVM started per
# connection (inetd) skips the source launcher's compile, most of a second each time.
build: check-java
	@for p in $(PROGRAMS); do $(JAVAC) --release 17 -d build/$${p%/*} $$p.java || exit 1; done
	@echo "compiled into build/: run e.g. $(JAVA) -cp build/echo Echo"

# The load generator: a package of small files, bench/*.java, compiled the same way into
# build/bench/ and run from there (java -cp build/bench bench.Bench --help lists its options).
# A full run also writes its table to docs/benchmark-jdkN.md, N being the JDK's version.
bench: check-java
	$(JAVAC) --release 17 -d build/bench bench/*.java
	$(JAVA) -cp build/bench bench.Bench $(if $(QUICK),--quick,--results docs)

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
	rm -rf build test/target
