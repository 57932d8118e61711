// caffe_fill_baseline.cpp - the benchmark baseline for tools/bench_fill.py and
// tools/bench_init.py (development only, not part of the package).
//
// Fills a float32 buffer the way Caffe 1.0's fillers do on the CPU: one
// boost::mt19937 seeded as Caffe::set_random_seed seeds it, each
// caffe_rng_* call a fresh Boost distribution wrapped in a
// boost::variate_generator over a pointer to that engine, one value per loop
// iteration.  Real Caffe is not needed: this is the same library code doing
// the same per-value work, so its time stands in for Caffe's fill.
//
//   g++ -O2 -o baseline tools/caffe_fill_baseline.cpp     (header-only Boost)
//   baseline FILLER COUNT ROWS REPEAT SEED
//   baseline FILLER COUNT ROWS 0 SEED        (one fill per line read on stdin)
//
// FILLER is gaussian (std 0.01), msra, xavier, uniform (-0.05..0.05),
// positive_unitball, sparse_gaussian (std 0.01, mask probability 0.5) or
// memset; ROWS is the blob's first axis (num), so fan_in = COUNT / ROWS.
// Each repeat continues the one stream, as successive fills in a net do.
// Prints "best_seconds sum xor": the best fill time (CPU time of the filling
// thread, so other load on the machine does not count) and two checksums of the
// last fill's float bits (the sum of the 32-bit words mod 2^64 and their
// xor), which the benchmarks compare with caffefill's values of the same
// fills to show the baseline draws what Caffe draws.  With REPEAT 0 it waits
// for a line on stdin before each fill and answers each with "seconds sum xor"
// of that fill (flushed), until stdin ends: a benchmark can then make each of
// the baseline's fills next to one of its own, without a process start between.
// A line "new" instead makes that fill into a new blob, as Caffe's first Fill
// of a blob does: Blob::mutable_cpu_data() mallocs it and memsets it to 0
// (SyncedMemory::to_cpu), then the values are drawn; the time covers all three.
#include <boost/math/special_functions/next.hpp>
#include <boost/random/bernoulli_distribution.hpp>
#include <boost/random/mersenne_twister.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_real.hpp>
#include <boost/random/variate_generator.hpp>

#include <time.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

typedef boost::mt19937 Engine;

// caffe_rng_uniform: uniform_real on [a, nextafter(b)).
static void rng_uniform(Engine* engine, int n, float a, float b, float* r) {
  boost::uniform_real<float> dist(
      a, boost::math::nextafter<float>(b, std::numeric_limits<float>::max()));
  boost::variate_generator<Engine*, boost::uniform_real<float> > draw(engine, dist);
  for (int i = 0; i < n; ++i) r[i] = draw();
}

// caffe_rng_gaussian: normal_distribution<float>(mean, sigma).
static void rng_gaussian(Engine* engine, int n, float mean, float sigma, float* r) {
  boost::normal_distribution<float> dist(mean, sigma);
  boost::variate_generator<Engine*, boost::normal_distribution<float> > draw(engine, dist);
  for (int i = 0; i < n; ++i) r[i] = draw();
}

// caffe_rng_bernoulli into an int mask.
static void rng_bernoulli(Engine* engine, int n, float p, int* r) {
  boost::bernoulli_distribution<float> dist(p);
  boost::variate_generator<Engine*, boost::bernoulli_distribution<float> > draw(engine, dist);
  for (int i = 0; i < n; ++i) r[i] = draw();
}

static void fill(const std::string& filler, Engine* engine, float* data, int count, int rows) {
  const float fan_in = static_cast<float>(count / rows);
  if (filler == "gaussian" || filler == "sparse_gaussian") {
    rng_gaussian(engine, count, 0.0f, 0.01f, data);
    if (filler == "sparse_gaussian") {  // Caffe allocates the mask per fill
      std::vector<int> mask(count);
      rng_bernoulli(engine, count, 0.5f, mask.data());
      for (int i = 0; i < count; ++i) data[i] *= mask[i];
    }
  } else if (filler == "msra") {
    rng_gaussian(engine, count, 0.0f, std::sqrt(2.0f / fan_in), data);
  } else if (filler == "xavier") {
    const float scale = std::sqrt(3.0f / fan_in);
    rng_uniform(engine, count, -scale, scale, data);
  } else if (filler == "uniform") {
    rng_uniform(engine, count, -0.05f, 0.05f, data);
  } else if (filler == "positive_unitball") {
    rng_uniform(engine, count, 0.0f, 1.0f, data);
    const int dim = count / rows;
    for (int i = 0; i < rows; ++i) {
      float sum = 0;
      for (int j = 0; j < dim; ++j) sum += data[i * dim + j];
      for (int j = 0; j < dim; ++j) data[i * dim + j] /= sum;
    }
  } else if (filler == "memset") {
    std::memset(data, 0, sizeof(float) * static_cast<size_t>(count));
  } else {
    std::fprintf(stderr, "unknown filler %s\n", filler.c_str());
    std::exit(2);
  }
}

// One fill, timed by the CPU time of this thread.
static double timed_fill(const std::string& filler, Engine* engine, float* data, int count,
                         int rows) {
  timespec start, end;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  fill(filler, engine, data, count, rows);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end);
  return static_cast<double>(end.tv_sec - start.tv_sec) +
         1e-9 * static_cast<double>(end.tv_nsec - start.tv_nsec);
}

// The checksums of a fill's float bits: their sum mod 2^64 and their xor.
static void checksum(const float* data, int count, uint64_t* sum, uint32_t* xored) {
  *sum = 0;
  *xored = 0;
  for (int i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &data[i], sizeof bits);
    *sum += bits;
    *xored ^= bits;
  }
}

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s FILLER COUNT ROWS REPEAT SEED\n", argv[0]);
    return 2;
  }
  const std::string filler = argv[1];
  const int count = std::atoi(argv[2]), rows = std::atoi(argv[3]), repeat = std::atoi(argv[4]);
  Engine engine(static_cast<uint32_t>(std::strtoul(argv[5], NULL, 10)));
  if (count <= 0 || rows <= 0 || count % rows != 0 || repeat < 0) {
    std::fprintf(stderr, "bad COUNT, ROWS or REPEAT\n");
    return 2;
  }
  std::vector<float> data(count, 0.0f);  // pages touched before timing
  double best = 1e300;
  uint64_t sum = 0;
  uint32_t xored = 0;
  char line[64];
  for (int r = 0; repeat == 0 ? std::fgets(line, sizeof line, stdin) != NULL : r < repeat; ++r) {
    double took;
    if (repeat == 0 && std::strncmp(line, "new", 3) == 0) {
      timespec start, end;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
      float* blob = static_cast<float*>(std::malloc(sizeof(float) * static_cast<size_t>(count)));
      if (blob == NULL) return 3;
      std::memset(blob, 0, sizeof(float) * static_cast<size_t>(count));
      fill(filler, &engine, blob, count, rows);
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end);
      took = static_cast<double>(end.tv_sec - start.tv_sec) +
             1e-9 * static_cast<double>(end.tv_nsec - start.tv_nsec);
      checksum(blob, count, &sum, &xored);
      std::free(blob);
    } else {
      took = timed_fill(filler, &engine, data.data(), count, rows);
      checksum(data.data(), count, &sum, &xored);
    }
    if (took < best) best = took;
    if (repeat == 0) {
      std::printf("%.6f %llu %u\n", took, static_cast<unsigned long long>(sum), xored);
      std::fflush(stdout);
    }
  }
  if (repeat > 0)
    std::printf("%.6f %llu %u\n", best, static_cast<unsigned long long>(sum), xored);
  return 0;
}
