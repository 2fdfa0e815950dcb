# Two commands do everything on a fresh machine (as root):
#   make run    set up, then start the bundled busybox container with its phase timings
#   make test   set up, then run the test suite
.PHONY: setup run test bench clean

setup:
	./scripts/setup

run: setup
	.venv/bin/minioci run --timing bundles/busybox

test: setup
	.venv/bin/pytest -q tests

clean:
	rm -rf .venv build bundles/*/rootfs

bench: setup
	.venv/bin/minioci bench
