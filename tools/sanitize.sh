#!/usr/bin/env bash
# Build and test the C core under AddressSanitizer + UndefinedBehaviorSanitizer.
#  1. tests/c/test_core.c linked with the C units: ASan, UBSan and
#     LeakSanitizer, every finding fatal; with and without the SIMD paths.
#     Then its threaded Box-Muller checks under ThreadSanitizer.
#  2. The Python extensions rebuilt with ASan/UBSan and the filler, stream
#     and reader tests run against them (leak checking off there: CPython
#     itself keeps memory until exit, which LeakSanitizer would report).
set -euo pipefail
cd "$(dirname "$0")/.."
core=src/caffefill/_core
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-std=c99 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
       -fno-sanitize-recover=all -ffp-contract=off -Wall -Wextra -Werror -pthread)

# Twice: as built (AVX2 paths where the CPU has them) and with -DCF_NO_SIMD
# (the portable code that non-x86 machines build).
for variant in "" -DCF_NO_SIMD; do
    gcc "${flags[@]}" $variant -I"$core" "$core"/mt19937.c "$core"/boostdist.c \
        "$core"/boxmuller.c "$core"/glibc_vec.c "$core"/fill.c "$core"/crc32.c tests/c/test_core.c -lm -o "$work/test_core"
    ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$work/test_core"
done

gcc "${flags[@]/-fsanitize=address,undefined/-fsanitize=thread}" -I"$core" "$core"/mt19937.c \
    "$core"/boostdist.c "$core"/boxmuller.c "$core"/glibc_vec.c "$core"/fill.c "$core"/crc32.c \
    tests/c/test_core.c -lm -o "$work/test_core_tsan"
TSAN_OPTIONS=halt_on_error=1 "$work/test_core_tsan" threads

pkg=$(python3 -c "import caffefill, os; print(os.path.dirname(caffefill.__file__))")
cp -r "$pkg" "$work/caffefill"
rm -f "$work"/caffefill/_core*.so "$work"/caffefill/_textscan*.so
py_inc=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['include'])")
np_inc=$(python3 -c "import numpy; print(numpy.get_include())")
suffix=$(python3 -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
gcc "${flags[@]}" -shared -fPIC -I"$core" -I"$py_inc" -I"$np_inc" \
    "$core"/mt19937.c "$core"/boostdist.c "$core"/boxmuller.c "$core"/glibc_vec.c "$core"/fill.c "$core"/crc32.c \
    "$core"/module.c -lm \
    -o "$work/caffefill/_core$suffix"
gcc "${flags[@]}" -shared -fPIC -I"$py_inc" "$core"/textscan.c -o "$work/caffefill/_textscan$suffix"
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
PYTHONPATH="$work" python3 -m pytest -q -p no:cacheprovider \
    tests/test_fillers_golden.py tests/test_stream.py tests/test_filler_stats.py \
    tests/test_boxmuller.py tests/test_reader_lexer.py tests/test_reader.py
echo "sanitizers: no findings"
