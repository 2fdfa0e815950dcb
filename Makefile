# Two commands do everything on a fresh machine (as root):
#   make run    set up, then start the bundled busybox container with its phase timings
#   make test   set up, then run the test suite
#   make install   set up, then put `minioci` on PATH: a symlink $(PREFIX)/bin/minioci
#                  to .venv/bin/minioci (the executable finds its venv through the link)
.PHONY: setup run test bench clean install uninstall

PREFIX ?= /usr/local

setup:
	./scripts/setup

run: setup
	.venv/bin/minioci run --timing bundles/busybox

test: setup
	.venv/bin/pytest -q tests

install: setup
	mkdir -p "$(DESTDIR)$(PREFIX)/bin"
	ln -sfn "$(CURDIR)/.venv/bin/minioci" "$(DESTDIR)$(PREFIX)/bin/minioci"

# only our own link: whatever else is called minioci there stays
uninstall:
	[ "$$(readlink "$(DESTDIR)$(PREFIX)/bin/minioci")" != "$(CURDIR)/.venv/bin/minioci" ] || \
		rm "$(DESTDIR)$(PREFIX)/bin/minioci"

clean:
	rm -rf .venv build bundles/*/rootfs

bench: setup
	.venv/bin/minioci bench
