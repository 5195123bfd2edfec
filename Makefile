# A thin wrapper for those who have make; the commands in .ci/ are the real ones.
.PHONY: all demo test clean
all:
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build/release -j
demo:
	.ci/demo
test:
	.ci/run
clean:
	rm -rf build
