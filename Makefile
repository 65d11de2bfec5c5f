# The two commands of the README, and a few conveniences. Everything real lives in scripts/.
.PHONY: demo test test-quick build format bench bench-quick clean

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

test-quick:
	LAKESYNC_TEST_QUICK=1 bash scripts/test.sh

build:
	bash scripts/install-deps.sh
	bash scripts/configure.sh build -DLAKESYNC_WERROR=ON >/dev/null
	cmake --build build -j$${JOBS:-2}

format:
	bash scripts/format.sh

bench:
	bash bench/run.sh

bench-quick:
	bash bench/run.sh --quick

clean:
	rm -rf build build-asan build-fuzz build-*.configure.log
