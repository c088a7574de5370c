// Normalisation: batch norm (training and eval), layer norm and instance norm, all as one
// fused op family over a common layout.
//
// Layout: the input is viewed as (A, B, P, L), element (a, b, p, l) at ((a·B + b)·P + p)·L + l.
// A statistics group g = b·P + p reduces over (a, l), M = A·L elements; the affine parameters
// are indexed by p.
//   BatchNorm2d    (N, C, H, W):  A = N, B = 1, P = C, L = H·W
//   InstanceNorm2d (N, C, H, W):  A = 1, B = N, P = C, L = H·W
//   LayerNorm      (N, ...):      A = 1, B = N, P = 1, L = C·H·W (affine shaped like (C, H, W): composed ops)
//
// Forward (training statistics):  μ = Σx/M, σ² = Σ(x − μ)²/M (biased), invstd = 1/√(σ² + ε),
//   x̂ = (x − μ)·invstd, y = γ_p·x̂ + β_p. One kernel: statistics (one read), then y = (x − μ)·γ·invstd + β
//   (a second read, one write), and μ, invstd, σ² saved per group.
// Backward (one kernel): with w = γ_p (or 1),
//   dx = w·invstd/M·(M·g − Σg − x̂·Σ(g·x̂)),  dγ_p = Σ_{b} Σ(g·x̂),  dβ_p = Σ_{b} Σg.
// That backward is an op of its own (NormBackward, 3 outputs). Its derivative rule recomputes the
// same formula with composed differentiable ops (NormBackwardComposed, which also recomputes μ and
// invstd from x) and differentiates that: double backward falls out, and the composed formula is
// the oracle the fused kernel is tested against.
// Eval-mode batch norm is affine per channel: the apply kernel with the running statistics, and a
// rule of plain composed ops (dx = g·γ·invstd).
//
// Statistics are numerically stable and deterministic. CPU: each group's runs are cut into
// blocks of ≤ 2048; a block sums x − c and (x − c)² in float lanes (c = the block's first element,
// a shift that keeps the sums free of cancellation), and blocks are merged in double with Chan's
// formula in a fixed order. ILGPU: when a statistics group has at most 256 threads ×
// ReductionElementsPerThread (GpuKernelOptions) elements, one group of up to 256 threads per statistics
// group; each thread runs Welford over a strided slice, then a shared-memory tree merges (count, mean,
// M2) with Chan's formula, in an order fixed by the group size; the same kernel then applies y. A
// larger statistics group (BatchNorm over N·H·W) is spread over several groups: its range is cut into
// fixed chunks of 256 × that many elements, one group per chunk writes its (count, mean, M2) (backward:
// its Σg, Σg·(x − μ)), a second launch merges the chunks of each statistics group in chunk order (one
// thread each), and an elementwise launch applies y (backward: dx). With B = 1 (batch norm) the
// per-group sums are already dγ, dβ and the backward writes them directly.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuGan.Tensors.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace GpuGan.Tensors;

/// <summary>The (A, B, P, L) view of a normalised tensor (see the file header) and kernel flags.</summary>
internal struct NormParams
{
    public int A, B, P, L;
    public int HasGamma, HasBeta;
    public float Eps;
}

/// <summary>
/// Batch norm's running statistics, updated by the launch that computes the batch statistics (Update = 0: none):
/// running = (1 − m)·running + m·batch, the variance unbiased by Unbias = M/(M − 1); with HasCounter, Counter[0] = Count
/// (num_batches_tracked). Unused views alias any buffer: nothing reads them.
/// </summary>
internal struct RunningStats
{
    public ArrayView<float> Mean, Var, Counter;
    public float Momentum, Unbias, Count;
    public int Update, HasCounter;
}

internal static class NormalizationKernels
{
    public const int GroupSize = 256; // most threads per ILGPU group (the shared arrays' size)

    /// <summary>
    /// Threads per group for M elements per statistics group: a power of two (the tree needs it) from one warp
    /// to <see cref="GroupSize"/>; small groups do not wake idle threads (and the CPU simulator pays per thread).
    /// </summary>
    public static int GroupThreads(in NormParams s)
    {
        int m = s.A * s.L, t = 32;
        while (t < GroupSize && t < m) t *= 2;
        return t;
    }
    /// <summary>
    /// Null when one group of up to <see cref="GroupSize"/> threads covers each statistics group (the fused kernels):
    /// at most <see cref="GpuKernelOptions.ReductionElementsPerThread"/> elements per thread, and enough statistics
    /// groups to fill the chip (half of <see cref="GpuKernelOptions.TargetGroups"/>) or too few elements to share. Otherwise
    /// the chunk (a multiple of 256 elements) and chunks per statistics group of the spread kernels.
    /// Depends on the shapes and the options only.
    /// </summary>
    public static (int Chunk, int Chunks)? Chunking(in NormParams s, GpuKernelOptions options)
    {
        long m = (long)s.A * s.L, groups = (long)s.B * s.P;
        long chunks = (m + (long)GroupSize * options.ReductionElementsPerThread - 1) / ((long)GroupSize * options.ReductionElementsPerThread);
        // Fewer statistics groups than about one per SM (TargetGroups is two per SM; DCGAN-28's 128 channels):
        // cut each into more chunks, of at least 256 elements.
        if (groups < options.TargetGroups / 2)
            chunks = Math.Max(chunks, Math.Min((options.TargetGroups + groups - 1) / groups, m / GroupSize));
        if (chunks <= 1) return null;
        long chunk = ((m + chunks - 1) / chunks + GroupSize - 1) / GroupSize * GroupSize;
        return ((int)chunk, (int)((m + chunk - 1) / chunk));
    }

    private const int Block = 2048;   // CPU: elements per float-lane block before folding into double

    /// <summary>
    /// Cost of <see cref="NormForwardKernel"/>: per element 7 operations of Welford and 3 of the apply;
    /// x is read twice but counted once (compulsory traffic). Each thread walks its ⌈M/threads⌉
    /// strided elements twice and the tree's log2(threads) steps.
    /// </summary>
    public static LaunchCost ForwardCost(in NormParams s, int threads)
    {
        long groups = (long)s.B * s.P, m = (long)s.A * s.L, n = groups * m;
        long affine = (s.HasGamma + s.HasBeta) * (long)s.P;
        return new LaunchCost(Flops: 10 * n, BytesRead: (n + affine) * sizeof(float), BytesWritten: (n + 3 * groups) * sizeof(float),
            SerialLoop: 2 * ((m + threads - 1) / threads) + Log2(threads));
    }

    /// <summary>
    /// Cost of <see cref="NormBackwardKernel"/>: 4 operations per element for the two sums, 5 for dx;
    /// reads g and x (and γ, μ, invstd), writes dx and the two group sums.
    /// </summary>
    public static LaunchCost BackwardCost(in NormParams s, int threads)
    {
        long groups = (long)s.B * s.P, m = (long)s.A * s.L, n = groups * m;
        long vectors = s.HasGamma * (long)s.P + 2 * groups;
        return new LaunchCost(Flops: 9 * n, BytesRead: (2 * n + vectors) * sizeof(float), BytesWritten: (n + 2 * groups) * sizeof(float),
            SerialLoop: 2 * ((m + threads - 1) / threads) + Log2(threads));
    }

    private static int Log2(int powerOfTwo) => System.Numerics.BitOperations.Log2((uint)powerOfTwo);

    // ============================================================ float64 reference

    /// <summary>
    /// Normalisation over the (A, B, P, L) view in double (the test oracle): y, and per group μ and
    /// biased σ². Training mode computes the statistics of each group; eval-mode batch norm passes
    /// the running statistics per group (<paramref name="runningMean"/>, <paramref name="runningVar"/>), which are then returned.
    /// </summary>
    public static (double[] Y, double[] Mean, double[] Var) ForwardReference(double[] x, NormParams s, double[]? gamma, double[]? beta,
        double[]? runningMean = null, double[]? runningVar = null)
    {
        int G = s.B * s.P, M = s.A * s.L;
        var y = new double[x.Length];
        var mean = new double[G];
        var variance = new double[G];
        for (int g = 0; g < G; g++)
        {
            double mu, v;
            if (runningMean is not null)
            {
                (mu, v) = (runningMean[g], runningVar![g]);
            }
            else
            {
                double sum = 0, sq = 0;
                for (int a = 0; a < s.A; a++) for (int l = 0; l < s.L; l++) sum += x[((long)a * G + g) * s.L + l];
                mu = sum / M;
                for (int a = 0; a < s.A; a++) for (int l = 0; l < s.L; l++) { double d = x[((long)a * G + g) * s.L + l] - mu; sq += d * d; }
                v = sq / M;
            }
            double istd = 1 / Math.Sqrt(v + s.Eps);
            int p = g % s.P;
            for (int a = 0; a < s.A; a++)
                for (int l = 0; l < s.L; l++)
                {
                    long o = ((long)a * G + g) * s.L + l;
                    y[o] = (x[o] - mu) * istd * (gamma?[p] ?? 1) + (beta?[p] ?? 0);
                }
            mean[g] = mu;
            variance[g] = v;
        }
        return (y, mean, variance);
    }

    /// <summary>Per-group float64 statistics: μ and r = 1/√(σ² + ε) (biased σ²), as the training forward computes them.</summary>
    private static (double Mean, double InvStd) GroupStatsReference(double[] x, in NormParams s, int g)
    {
        int G = s.B * s.P, M = s.A * s.L;
        double sum = 0, sq = 0;
        for (int a = 0; a < s.A; a++) for (int l = 0; l < s.L; l++) sum += x[((long)a * G + g) * s.L + l];
        double mu = sum / M;
        for (int a = 0; a < s.A; a++) for (int l = 0; l < s.L; l++) { double d = x[((long)a * G + g) * s.L + l] - mu; sq += d * d; }
        return (mu, 1 / Math.Sqrt(sq / M + s.Eps));
    }

    /// <summary>The flat offsets of group g's M elements, in (a, l) order.</summary>
    private static long[] GroupOffsets(in NormParams s, int g)
    {
        int G = s.B * s.P;
        var o = new long[s.A * s.L];
        for (int a = 0, k = 0; a < s.A; a++) for (int l = 0; l < s.L; l++) o[k++] = ((long)a * G + g) * s.L + l;
        return o;
    }

    /// <summary>
    /// The normalisation backward in float64 (the oracle of NormBackward and of the forward's rule): per group, with
    /// w = γ_p (or 1), r = invstd and x̂ = (x − μ)·r of the group's own statistics,
    ///   dx = w·r·(g − mean(g) − x̂·mean(g·x̂)),  dγ_p = Σ Σ(g·x̂),  dβ_p = Σ Σg  (sums over the groups of channel p).
    /// </summary>
    public static (double[] Dx, double[] DGamma, double[] DBeta) BackwardReference(double[] gy, double[] x, NormParams s, double[]? gamma)
    {
        int G = s.B * s.P, M = s.A * s.L;
        var dx = new double[x.Length];
        var dgamma = new double[s.P];
        var dbeta = new double[s.P];
        for (int g = 0; g < G; g++)
        {
            var (mu, r) = GroupStatsReference(x, s, g);
            int p = g % s.P;
            double w = gamma?[p] ?? 1;
            var o = GroupOffsets(s, g);
            double sg = 0, sgx = 0;
            foreach (long i in o) { sg += gy[i]; sgx += gy[i] * (x[i] - mu) * r; }
            foreach (long i in o) dx[i] = w * r * (gy[i] - sg / M - (x[i] - mu) * r * sgx / M);
            dgamma[p] += sgx;
            dbeta[p] += sg;
        }
        return (dx, dgamma, dbeta);
    }

    /// <summary>
    /// The float64 VJP of <see cref="ForwardReference"/> for upstream u: training statistics (the backward above), or
    /// eval-mode batch norm with the running statistics (affine per channel: dx = u·γ·r, dγ = Σ u·(x − μ)·r, dβ = Σ u).
    /// </summary>
    public static (double[] Dx, double[] DGamma, double[] DBeta) ForwardVjpReference(double[] x, NormParams s, double[]? gamma, double[] u,
        double[]? runningMean = null, double[]? runningVar = null)
    {
        if (runningMean is null) return BackwardReference(u, x, s, gamma);
        int G = s.B * s.P;
        var dx = new double[x.Length];
        var dgamma = new double[s.P];
        var dbeta = new double[s.P];
        for (int g = 0; g < G; g++)
        {
            int p = g % s.P;
            double r = 1 / Math.Sqrt(runningVar![g] + s.Eps), w = gamma?[p] ?? 1;
            foreach (long i in GroupOffsets(s, g))
            {
                dx[i] = u[i] * w * r;
                dgamma[p] += u[i] * (x[i] - runningMean[g]) * r;
                dbeta[p] += u[i];
            }
        }
        return (dx, dgamma, dbeta);
    }

    /// <summary>
    /// The float64 VJP of <see cref="BackwardReference"/> (second derivatives of normalisation; the oracle of
    /// NormBackward's rule): for upstreams a (of dx), c (of dγ, per channel) and e (of dβ), the gradients of
    /// L = ⟨a, dx⟩ + ⟨c, dγ⟩ + ⟨e, dβ⟩ w.r.t. g, x and γ. Per group, with ĝ = w·g, P(q) = q − mean(q) − x̂·mean(q·x̂)
    /// (symmetric, and ∂x̂/∂x = r·P), ∂r/∂x = −r²·x̂/M:
    ///   ∂L/∂g = w·r·P(a) + c_p·x̂ + e_p
    ///   ∂L/∂γ_p = Σ_groups of p ⟨a, r·P(g)⟩
    ///   ∂L/∂x = −(r²/M)·(⟨a, ĝ⟩ − Σĝ·Σa/M − ⟨ĝ, x̂⟩⟨a, x̂⟩/M)·x̂ + r·P(q),  q = −(r/M)·(⟨a, x̂⟩·ĝ + ⟨ĝ, x̂⟩·a) + c_p·g.
    /// </summary>
    public static (double[] Dg, double[] Dx, double[] DGamma) BackwardVjpReference(double[] gy, double[] x, NormParams s, double[]? gamma,
        double[] a, double[] c, double[] e)
    {
        int G = s.B * s.P, M = s.A * s.L;
        var dg = new double[x.Length];
        var dx = new double[x.Length];
        var dgamma = new double[s.P];
        for (int g = 0; g < G; g++)
        {
            var (mu, r) = GroupStatsReference(x, s, g);
            int p = g % s.P;
            double w = gamma?[p] ?? 1;
            var o = GroupOffsets(s, g);
            var xh = new double[M];
            for (int k = 0; k < M; k++) xh[k] = (x[o[k]] - mu) * r;
            double[] P(Func<int, double> q)
            {
                double mq = 0, mqx = 0;
                for (int k = 0; k < M; k++) { mq += q(k); mqx += q(k) * xh[k]; }
                mq /= M;
                mqx /= M;
                var res = new double[M];
                for (int k = 0; k < M; k++) res[k] = q(k) - mq - xh[k] * mqx;
                return res;
            }
            var pa = P(k => a[o[k]]);
            var pg = P(k => gy[o[k]]);
            double sa = 0, sgh = 0, sagh = 0, sax = 0, sghx = 0, apg = 0;
            for (int k = 0; k < M; k++)
            {
                double gh = w * gy[o[k]], ak = a[o[k]];
                sa += ak;
                sgh += gh;
                sagh += ak * gh;
                sax += ak * xh[k];
                sghx += gh * xh[k];
                apg += ak * r * pg[k];
            }
            for (int k = 0; k < M; k++) dg[o[k]] = w * r * pa[k] + c[p] * xh[k] + e[p];
            dgamma[p] += apg;
            double coefR = -(r * r / M) * (sagh - sgh * sa / M - sghx * sax / M);
            var pq = P(k => -(r / M) * (sax * w * gy[o[k]] + sghx * a[o[k]]) + c[p] * gy[o[k]]);
            for (int k = 0; k < M; k++) dx[o[k]] = coefR * xh[k] + r * pq[k];
        }
        return (dg, dx, dgamma);
    }

    // ============================================================ ILGPU kernels

    private static int Offset(int j, int g, int groups, int l) => ((j / l) * groups + g) * l + j % l;

    /// <summary>
    /// One group per statistics group: per-thread Welford, tree merge (Chan), then y = (x − μ)·scale + β.
    /// Writes μ, invstd and the biased σ² of the group.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void NormForwardKernel(ArrayView<float> x, ArrayView<float> y, ArrayView<float> gamma, ArrayView<float> beta,
        ArrayView<float> mean, ArrayView<float> invstd, ArrayView<float> variance, NormParams s, RunningStats r)
    {
        var sn = SharedMemory.Allocate1D<float>(GroupSize);
        var sm = SharedMemory.Allocate1D<float>(GroupSize);
        var sq = SharedMemory.Allocate1D<float>(GroupSize);
        int g = Grid.IdxX, t = Group.IdxX, nt = Group.DimX;
        int groups = s.B * s.P, count = s.A * s.L;
        float n = 0f, m = 0f, q = 0f;
        for (int j = t; j < count; j += nt)
        {
            float v = x[Offset(j, g, groups, s.L)];
            n += 1f;
            float d = v - m;
            m += d / n;
            q += d * (v - m);
        }
        sn[t] = n;
        sm[t] = m;
        sq[t] = q;
        Group.Barrier();
        MergeWelford(sn, sm, sq, t, nt);
        float mu = sm[0], var = sq[0] / count;
        float istd = 1f / MathF.Sqrt(var + s.Eps);
        if (t == 0)
        {
            mean[g] = mu;
            invstd[g] = istd;
            variance[g] = var;
            UpdateRunningStats(g, mu, var, r);
        }
        int p = g % s.P;
        float scale = s.HasGamma != 0 ? gamma[p] * istd : istd;
        float shift = s.HasBeta != 0 ? beta[p] : 0f;
        for (int j = t; j < count; j += nt)
        {
            int o = Offset(j, g, groups, s.L);
            y[o] = (x[o] - mu) * scale + shift;
        }
    }

    /// <summary>y = (x − μ_g)·invstd_g·γ_p + β_p with given statistics (eval-mode batch norm).</summary>
    [GpuKernel]
    public static void NormApplyKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> gamma, ArrayView<float> beta,
        ArrayView<float> mean, ArrayView<float> invstd, NormParams s)
    {
        int g = (i / s.L) % (s.B * s.P), p = g % s.P;
        float scale = s.HasGamma != 0 ? gamma[p] * invstd[g] : invstd[g];
        float shift = s.HasBeta != 0 ? beta[p] : 0f;
        y[i] = (x[i] - mean[g]) * scale + shift;
    }

    /// <summary>
    /// One group per statistics group: tree sums of g and g·(x − μ), then
    /// dx = w·invstd·(g − Σg/M − x̂·Σ(g·x̂)/M). Writes the group's Σg and Σ(g·x̂) for dγ, dβ.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void NormBackwardKernel(ArrayView<float> gy, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> mean,
        ArrayView<float> invstd, ArrayView<float> dx, ArrayView<float> sumG, ArrayView<float> sumGX, NormParams s)
    {
        var sa = SharedMemory.Allocate1D<float>(GroupSize);
        var sb = SharedMemory.Allocate1D<float>(GroupSize);
        int g = Grid.IdxX, t = Group.IdxX, nt = Group.DimX;
        int groups = s.B * s.P, count = s.A * s.L;
        float mu = mean[g], istd = invstd[g];
        float a = 0f, b = 0f;
        for (int j = t; j < count; j += nt)
        {
            int o = Offset(j, g, groups, s.L);
            float gv = gy[o];
            a += gv;
            b += gv * (x[o] - mu);
        }
        sa[t] = a;
        sb[t] = b;
        Group.Barrier();
        SumPairs(sa, sb, t, nt);
        float sg = sa[0], sgx = sb[0] * istd;
        if (t == 0)
        {
            sumG[g] = sg;
            sumGX[g] = sgx;
        }
        float k = s.HasGamma != 0 ? gamma[g % s.P] * istd : istd;
        float mg = sg / count, q = istd * sgx / count;
        for (int j = t; j < count; j += nt)
        {
            int o = Offset(j, g, groups, s.L);
            dx[o] = k * (gy[o] - mg - (x[o] - mu) * q);
        }
    }

    /// <summary>dγ_p = Σ_b Σ(g·x̂)_(b,p), dβ_p = Σ_b Σg_(b,p), in b order.</summary>
    [GpuKernel]
    public static void NormParamGradKernel(Index1D p, ArrayView<float> sumG, ArrayView<float> sumGX, ArrayView<float> dgamma, ArrayView<float> dbeta, NormParams s)
    {
        float a = 0f, b = 0f;
        for (int j = 0; j < s.B; j++)
        {
            a += sumGX[j * s.P + p];
            b += sumG[j * s.P + p];
        }
        dgamma[p] = a;
        dbeta[p] = b;
    }

    // ------------------------------------------------------------ chunked statistics (large groups)

    /// <summary>Elements of group g's range [0, A·L) walked from <c>start</c> by <c>step</c>, as offsets into x (no division per element).</summary>
    private struct RangeWalker
    {
        private int _a, _l, _da, _dl;
        private readonly int _g, _groups, _length;

        public RangeWalker(int g, int groups, int length, int start, int step)
        {
            _g = g;
            _groups = groups;
            _length = length;
            _a = start / length;
            _l = start - _a * length;
            _da = step / length;
            _dl = step - _da * length;
        }

        public readonly int Offset => (_a * _groups + _g) * _length + _l;

        public void Advance()
        {
            _a += _da;
            _l += _dl;
            if (_l >= _length)
            {
                _l -= _length;
                _a++;
            }
        }
    }

    /// <summary>
    /// Chunk c of statistics group g (grid groups × chunks, chunk fastest): per-thread Welford over every
    /// 256th element of the chunk, a Chan tree, then (count, mean, M2) into the partial buffer at 3·(g·chunks + c).
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void NormStatsPartialKernel(ArrayView<float> x, ArrayView<float> partial, NormParams s, int chunk, int chunks)
    {
        var sn = SharedMemory.Allocate1D<float>(GroupSize);
        var sm = SharedMemory.Allocate1D<float>(GroupSize);
        var sq = SharedMemory.Allocate1D<float>(GroupSize);
        int c = Grid.IdxX % chunks, g = Grid.IdxX / chunks, t = Group.IdxX, nt = Group.DimX;
        int groups = s.B * s.P, count = s.A * s.L;
        int start = c * chunk, end = Math.Min(count, start + chunk);
        float n = 0f, m = 0f, q = 0f;
        var walk = new RangeWalker(g, groups, s.L, start + t, nt);
        for (int j = start + t; j < end; j += nt)
        {
            float v = x[walk.Offset];
            walk.Advance();
            n += 1f;
            float d = v - m;
            m += d / n;
            q += d * (v - m);
        }
        sn[t] = n;
        sm[t] = m;
        sq[t] = q;
        Group.Barrier();
        MergeWelford(sn, sm, sq, t, nt);
        if (t == 0)
        {
            int o = 3 * (g * chunks + c);
            partial[o] = sn[0];
            partial[o + 1] = sm[0];
            partial[o + 2] = sq[0];
        }
    }

    /// <summary>The shared-memory Chan tree of (count, mean, M2) over nt (a power of two) slots, ending in slot 0.</summary>
    private static void MergeWelford(ArrayView<float> sn, ArrayView<float> sm, ArrayView<float> sq, int t, int nt)
    {
        for (int stride = nt / 2; stride > 0; stride /= 2)
        {
            if (t < stride)
            {
                float na = sn[t], nb = sn[t + stride];
                if (nb > 0f)
                {
                    float nn = na + nb, delta = sm[t + stride] - sm[t];
                    sm[t] = sm[t] + delta * (nb / nn);
                    sq[t] = sq[t] + sq[t + stride] + delta * delta * (na * nb / nn);
                    sn[t] = nn;
                }
            }
            Group.Barrier();
        }
    }

    /// <summary>The shared-memory tree sum of two values over nt (a power of two) slots, ending in slot 0 (a fixed order: deterministic).</summary>
    private static void SumPairs(ArrayView<float> sa, ArrayView<float> sb, int t, int nt)
    {
        for (int stride = nt / 2; stride > 0; stride /= 2)
        {
            if (t < stride)
            {
                sa[t] = sa[t] + sa[t + stride];
                sb[t] = sb[t] + sb[t + stride];
            }
            Group.Barrier();
        }
    }

    /// <summary>One thread per statistics group merges its chunks' (count, mean, M2) in chunk order (Chan) into μ, invstd, σ².</summary>
    [GpuKernel]
    public static void NormStatsCombineKernel(Index1D g, ArrayView<float> partial, ArrayView<float> mean, ArrayView<float> invstd,
        ArrayView<float> variance, NormParams s, int chunks, RunningStats r)
    {
        int o = 3 * g * chunks;
        float n = partial[o], m = partial[o + 1], q = partial[o + 2];
        for (int c = 1; c < chunks; c++)
        {
            int k = o + 3 * c;
            float nb = partial[k];
            if (nb > 0f)
            {
                float nn = n + nb, delta = partial[k + 1] - m;
                m = m + delta * (nb / nn);
                q = q + partial[k + 2] + delta * delta * (n * nb / nn);
                n = nn;
            }
        }
        float var = q / (s.A * s.L);
        mean[g] = m;
        invstd[g] = 1f / MathF.Sqrt(var + s.Eps);
        variance[g] = var;
        UpdateRunningStats(g, m, var, r);
    }

    /// <summary>The running-statistics update of group g (channel g of batch norm) from its batch μ and σ², as UpdateRunningStatsKernel.</summary>
    private static void UpdateRunningStats(int g, float mu, float var, RunningStats r)
    {
        if (r.Update == 0) return;
        r.Mean[g] = (1f - r.Momentum) * r.Mean[g] + r.Momentum * mu;
        r.Var[g] = (1f - r.Momentum) * r.Var[g] + r.Momentum * (var * r.Unbias);
        if (r.HasCounter != 0 && g == 0) r.Counter[0] = r.Count;
    }

    /// <summary>Chunk c of statistics group g: Σg and Σg·(x − μ) over the chunk (tree sums) into partial[2·(g·chunks + c)].</summary>
    [GpuKernel(ExplicitlyGrouped = true)]
    public static void NormBackwardPartialKernel(ArrayView<float> gy, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> partial,
        NormParams s, int chunk, int chunks)
    {
        var sa = SharedMemory.Allocate1D<float>(GroupSize);
        var sb = SharedMemory.Allocate1D<float>(GroupSize);
        int c = Grid.IdxX % chunks, g = Grid.IdxX / chunks, t = Group.IdxX, nt = Group.DimX;
        int groups = s.B * s.P, count = s.A * s.L;
        int start = c * chunk, end = Math.Min(count, start + chunk);
        float mu = mean[g];
        float a = 0f, b = 0f;
        var walk = new RangeWalker(g, groups, s.L, start + t, nt);
        for (int j = start + t; j < end; j += nt)
        {
            int o = walk.Offset;
            walk.Advance();
            float gv = gy[o];
            a += gv;
            b += gv * (x[o] - mu);
        }
        sa[t] = a;
        sb[t] = b;
        Group.Barrier();
        SumPairs(sa, sb, t, nt);
        if (t == 0)
        {
            partial[2 * (g * chunks + c)] = sa[0];
            partial[2 * (g * chunks + c) + 1] = sb[0];
        }
    }

    /// <summary>
    /// One thread per statistics group adds its chunks' sums in chunk order: Σg and Σ(g·x̂) into sumG, sumGX.
    /// </summary>
    [GpuKernel]
    public static void NormBackwardCombineKernel(Index1D g, ArrayView<float> partial, ArrayView<float> invstd, ArrayView<float> sumG,
        ArrayView<float> sumGX, int chunks)
    {
        int o = 2 * g * chunks;
        float a = partial[o], b = partial[o + 1];
        for (int c = 1; c < chunks; c++)
        {
            a += partial[o + 2 * c];
            b += partial[o + 2 * c + 1];
        }
        float sgx = b * invstd[g];
        sumG[g] = a;
        sumGX[g] = sgx;
    }

    /// <summary>dx = w·invstd·(g − Σg/M − (x − μ)·invstd·Σ(g·x̂)/M) elementwise, from the per-group sums.</summary>
    [GpuKernel]
    public static void NormBackwardApplyKernel(Index1D i, ArrayView<float> gy, ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> mean,
        ArrayView<float> invstd, ArrayView<float> sumG, ArrayView<float> sumGX, ArrayView<float> dx, NormParams s)
    {
        int g = (i / s.L) % (s.B * s.P);
        int count = s.A * s.L;
        float istd = invstd[g];
        float k = s.HasGamma != 0 ? gamma[g % s.P] * istd : istd;
        float mg = sumG[g] / count, q = istd * sumGX[g] / count;
        dx[i] = k * (gy[i] - mg - (x[i] - mean[g]) * q);
    }

    /// <summary>
    /// running = (1 − m)·running + m·batch; the variance unbiased by M/(M − 1). With hasCounter, thread 0 also writes
    /// the batch count (num_batches_tracked) into counter[0]: one launch instead of a separate fill per layer.
    /// </summary>
    [GpuKernel]
    public static void UpdateRunningStatsKernel(Index1D c, ArrayView<float> mean, ArrayView<float> variance, ArrayView<float> runningMean,
        ArrayView<float> runningVar, float momentum, float unbias, ArrayView<float> counter, float count, int hasCounter)
    {
        runningMean[c] = (1f - momentum) * runningMean[c] + momentum * mean[c];
        runningVar[c] = (1f - momentum) * runningVar[c] + momentum * (variance[c] * unbias);
        if (hasCounter != 0 && c == 0) counter[0] = count;
    }

    /// <summary>invstd = 1/√(var + ε) (eval-mode batch norm from the running variance).</summary>
    [GpuKernel]
    public static void InvStdKernel(Index1D c, ArrayView<float> variance, ArrayView<float> invstd, float eps)
        => invstd[c] = 1f / MathF.Sqrt(variance[c] + eps);

    // ============================================================ CPU SIMD kernels

    /// <summary>Chunks of whole groups, about 32K elements each: a split fixed by the shapes alone.</summary>
    private static int GroupsPerItem(in NormParams s) => CpuParallel.Grain((long)s.A * s.L);

    public static unsafe void ForwardCpu(CpuParallel cpu, float* x, float* y, float* gamma, float* beta, float* mean, float* invstd, float* variance, NormParams s)
    {
        int groups = s.B * s.P, per = GroupsPerItem(s);
        nint xp = (nint)x, yp = (nint)y, gp = (nint)gamma, bp = (nint)beta, mp = (nint)mean, ip = (nint)invstd, vp = (nint)variance;
        cpu.ForChunks(groups, per, (start, end) =>
        {
            for (int g = start; g < end; g++)
            {
                var (mu, var) = GroupStatistics((float*)xp, s, g);
                float istd = (float)(1.0 / Math.Sqrt(var + s.Eps));
                ((float*)mp)[g] = (float)mu;
                ((float*)ip)[g] = istd;
                ((float*)vp)[g] = (float)var;
                ApplyGroup((float*)xp, (float*)yp, (float*)gp, (float*)bp, (float)mu, istd, s, g);
            }
        });
    }

    public static unsafe void ApplyCpu(CpuParallel cpu, float* x, float* y, float* gamma, float* beta, float* mean, float* invstd, NormParams s)
    {
        int groups = s.B * s.P, per = GroupsPerItem(s);
        nint xp = (nint)x, yp = (nint)y, gp = (nint)gamma, bp = (nint)beta, mp = (nint)mean, ip = (nint)invstd;
        cpu.ForChunks(groups, per, (start, end) =>
        {
            for (int g = start; g < end; g++)
                ApplyGroup((float*)xp, (float*)yp, (float*)gp, (float*)bp, ((float*)mp)[g], ((float*)ip)[g], s, g);
        });
    }

    /// <summary>μ and biased σ² of group g: float-lane blocks shifted by their first element, merged in double (Chan).</summary>
    private static unsafe (double Mean, double Var) GroupStatistics(float* x, in NormParams s, int g)
    {
        int groups = s.B * s.P;
        double n = 0, mean = 0, m2 = 0;
        for (int a = 0; a < s.A; a++)
        {
            float* run = x + ((long)a * groups + g) * s.L;
            for (int off = 0; off < s.L; off += Block)
            {
                int len = Math.Min(Block, s.L - off);
                float* p = run + off;
                float c = p[0];
                var vc = Vector256.Create(c);
                Vector256<float> s0 = default, s1 = default, q0 = default, q1 = default;
                int i = 0;
                for (; i <= len - 16; i += 16)
                {
                    var d0 = Vector256.Load(p + i) - vc;
                    var d1 = Vector256.Load(p + i + 8) - vc;
                    s0 += d0;
                    s1 += d1;
                    q0 = Vector256.FusedMultiplyAdd(d0, d0, q0);
                    q1 = Vector256.FusedMultiplyAdd(d1, d1, q1);
                }
                double s1d = Vector256.Sum(s0 + s1), s2d = Vector256.Sum(q0 + q1);
                for (; i < len; i++)
                {
                    double d = p[i] - c;
                    s1d += d;
                    s2d += d * d;
                }
                double bMean = c + s1d / len, bM2 = Math.Max(0, s2d - s1d * s1d / len);
                double nn = n + len, delta = bMean - mean;
                mean += delta * (len / nn);
                m2 += bM2 + delta * delta * (n * len / nn);
                n = nn;
            }
        }
        return (mean, m2 / n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void ApplyGroup(float* x, float* y, float* gamma, float* beta, float mu, float istd, in NormParams s, int g)
    {
        int groups = s.B * s.P, p = g % s.P;
        float scale = gamma is null ? istd : gamma[p] * istd;
        float shift = beta is null ? 0f : beta[p];
        // (x − μ)·scale + β, not x·scale + (β − μ·scale): the latter cancels catastrophically when |μ| ≫ σ.
        var vs = Vector256.Create(scale);
        var vh = Vector256.Create(shift);
        var vm = Vector256.Create(mu);
        for (int a = 0; a < s.A; a++)
        {
            long off = ((long)a * groups + g) * s.L;
            float* xs = x + off, ys = y + off;
            int i = 0;
            for (; i <= s.L - 8; i += 8) Vector256.FusedMultiplyAdd(Vector256.Load(xs + i) - vm, vs, vh).Store(ys + i);
            for (; i < s.L; i++) ys[i] = (xs[i] - mu) * scale + shift;
        }
    }

    public static unsafe void BackwardCpu(CpuParallel cpu, float* gy, float* x, float* gamma, float* mean, float* invstd, float* dx, float* sumG, float* sumGX, NormParams s)
    {
        int groups = s.B * s.P, per = GroupsPerItem(s), count = s.A * s.L;
        nint gyp = (nint)gy, xp = (nint)x, gp = (nint)gamma, mp = (nint)mean, ip = (nint)invstd, dp = (nint)dx, sgp = (nint)sumG, sxp = (nint)sumGX;
        cpu.ForChunks(groups, per, (start, end) =>
        {
            for (int g = start; g < end; g++)
            {
                float* gys = (float*)gyp, xs = (float*)xp, dxs = (float*)dp;
                float mu = ((float*)mp)[g], istd = ((float*)ip)[g];
                var vmu = Vector256.Create(mu);
                double sg = 0, sgx = 0;
                // Pass 1: Σg and Σg·(x − μ), float lanes per block, double across blocks.
                for (int a = 0; a < s.A; a++)
                {
                    long runOff = ((long)a * groups + g) * s.L;
                    for (int off = 0; off < s.L; off += Block)
                    {
                        int len = Math.Min(Block, s.L - off);
                        float* gr = gys + runOff + off, xr = xs + runOff + off;
                        Vector256<float> a0 = default, b0 = default;
                        int i = 0;
                        for (; i <= len - 8; i += 8)
                        {
                            var gv = Vector256.Load(gr + i);
                            a0 += gv;
                            b0 = Vector256.FusedMultiplyAdd(gv, Vector256.Load(xr + i) - vmu, b0);
                        }
                        double ab = Vector256.Sum(a0), bb = Vector256.Sum(b0);
                        for (; i < len; i++)
                        {
                            ab += gr[i];
                            bb += gr[i] * (double)(xr[i] - mu);
                        }
                        sg += ab;
                        sgx += bb;
                    }
                }
                sgx *= istd;
                ((float*)sgp)[g] = (float)sg;
                ((float*)sxp)[g] = (float)sgx;
                // Pass 2: dx = k·(g − Σg/M − (x − μ)·invstd·Σ(g·x̂)/M).
                float k = gamma is null ? istd : ((float*)gp)[g % s.P] * istd;
                float mg = (float)(sg / count), q = (float)(istd * sgx / count);
                var vk = Vector256.Create(k);
                var vmg = Vector256.Create(mg);
                var vq = Vector256.Create(q);
                for (int a = 0; a < s.A; a++)
                {
                    long runOff = ((long)a * groups + g) * s.L;
                    float* gr = gys + runOff, xr = xs + runOff, dr = dxs + runOff;
                    int i = 0;
                    for (; i <= s.L - 8; i += 8)
                    {
                        var d = Vector256.Load(xr + i) - vmu;
                        (vk * (Vector256.Load(gr + i) - vmg - d * vq)).Store(dr + i);
                    }
                    for (; i < s.L; i++) dr[i] = k * (gr[i] - mg - (xr[i] - mu) * q);
                }
            }
        });
    }

    public static unsafe void ParamGradCpu(float* sumG, float* sumGX, float* dgamma, float* dbeta, in NormParams s)
    {
        for (int p = 0; p < s.P; p++)
        {
            double a = 0, b = 0;
            for (int j = 0; j < s.B; j++)
            {
                a += sumGX[j * s.P + p];
                b += sumG[j * s.P + p];
            }
            dgamma[p] = (float)a;
            dbeta[p] = (float)b;
        }
    }
}

public sealed partial class Tensor
{
    // ============================================================ launchers

    private static ArrayView<float> ViewOr(Tensor? t, Tensor fallback) => t is null ? fallback.View : t.View;
    private static Span<float> SpanOf(Tensor? t) => t is null ? Span<float>.Empty : t.HostSpan;

    /// <summary>Training-mode normalisation: y and the per-group μ, invstd and biased σ². Unrecorded.</summary>
    internal unsafe (Tensor Y, Tensor Mean, Tensor InvStd, Tensor Var) NormForwardRaw(NormParams s, Tensor? gamma, Tensor? beta, RunningStats running = default)
    {
        int groups = s.B * s.P;
        var y = Empty(Shape, Device);
        var mean = Empty(new Shape(groups), Device);
        var invstd = Empty(new Shape(groups), Device);
        var variance = Empty(new Shape(groups), Device);
        s.HasGamma = gamma is null ? 0 : 1;
        s.HasBeta = beta is null ? 0 : 1;
        if (Device.IsHost)
        {
            fixed (float* xp = HostSpan, yp = y.HostSpan, gp = SpanOf(gamma), bp = SpanOf(beta), mp = mean.HostSpan, ip = invstd.HostSpan, vp = variance.HostSpan)
                NormalizationKernels.ForwardCpu(Device.Parallel, xp, yp, gp, bp, mp, ip, vp, s);
        }
        else if (NormalizationKernels.Chunking(s, Device.GpuOptions) is not (int chunk, int chunks))
        {
            int threads = NormalizationKernels.GroupThreads(s);
            Device.Launch(NormalizationKernels.NormForwardKernel, new KernelConfig(groups, threads), NormalizationKernels.ForwardCost(s, threads),
                View, y.View, ViewOr(gamma, this), ViewOr(beta, this), mean.View, invstd.View, variance.View, s, Fill(running, mean));
        }
        else
        {
            // A large statistics group: chunks of it in parallel, their merge, then y elementwise.
            long n = Size;
            using var partial = Empty(new Shape(3 * groups * chunks), Device);
            var partialCost = new LaunchCost(Flops: 7 * n, BytesRead: n * sizeof(float), BytesWritten: 3L * groups * chunks * sizeof(float),
                SerialLoop: chunk / NormalizationKernels.GroupSize + 8);
            Device.Launch(NormalizationKernels.NormStatsPartialKernel, new KernelConfig(groups * chunks, NormalizationKernels.GroupSize), partialCost,
                View, partial.View, s, chunk, chunks);
            var combineCost = new LaunchCost(Flops: 10L * groups * chunks, BytesRead: 3L * groups * chunks * sizeof(float), BytesWritten: 3L * groups * sizeof(float),
                SerialLoop: chunks);
            Device.Launch(NormalizationKernels.NormStatsCombineKernel, groups, combineCost, partial.View, mean.View, invstd.View, variance.View, s, chunks,
                Fill(running, mean));
            ApplyIlgpu(s, gamma, beta, mean, invstd, y);
        }
        return (y, mean, invstd, variance);
    }

    /// <summary>A running-statistics argument whose unused views alias <paramref name="any"/> (ILGPU needs valid views).</summary>
    private static RunningStats Fill(RunningStats r, Tensor any)
    {
        if (r.Update == 0) r.Mean = r.Var = any.View;
        if (r.HasCounter == 0) r.Counter = any.View;
        return r;
    }

    /// <summary>y = (x − μ)·invstd·γ + β with given per-group statistics. Unrecorded.</summary>
    private unsafe Tensor NormApplyRaw(NormParams s, Tensor? gamma, Tensor? beta, Tensor mean, Tensor invstd)
    {
        var y = Empty(Shape, Device);
        s.HasGamma = gamma is null ? 0 : 1;
        s.HasBeta = beta is null ? 0 : 1;
        if (Size == 0) return y;
        if (Device.IsHost)
        {
            fixed (float* xp = HostSpan, yp = y.HostSpan, gp = SpanOf(gamma), bp = SpanOf(beta), mp = mean.HostSpan, ip = invstd.HostSpan)
                NormalizationKernels.ApplyCpu(Device.Parallel, xp, yp, gp, bp, mp, ip, s);
        }
        else ApplyIlgpu(s, gamma, beta, mean, invstd, y);
        return y;
    }

    /// <summary>y = (x − μ)·invstd·γ + β elementwise on the ILGPU device (HasGamma/HasBeta set). Unrecorded.</summary>
    private void ApplyIlgpu(NormParams s, Tensor? gamma, Tensor? beta, Tensor mean, Tensor invstd, Tensor y)
    {
        // Per element: (x − μ)·(γ·invstd) + β, 4 operations; the per-group and per-channel vectors are read once.
        long n = Size, vectors = 2L * s.B * s.P + (s.HasGamma + s.HasBeta) * (long)s.P;
        var cost = new LaunchCost(Flops: 4 * n, BytesRead: (n + vectors) * sizeof(float), BytesWritten: n * sizeof(float), SerialLoop: 1);
        Device.Launch(NormalizationKernels.NormApplyKernel, Size, cost, View, y.View, ViewOr(gamma, this), ViewOr(beta, this), mean.View, invstd.View, s);
    }

    /// <summary>The fused backward: dx (shape of x), dγ (P), dβ (P). Unrecorded.</summary>
    internal static unsafe Tensor[] NormBackwardRaw(Tensor gy, Tensor x, Tensor? gamma, Tensor mean, Tensor invstd, NormParams s)
    {
        int groups = s.B * s.P;
        var dx = Empty(x.Shape, x.Device);
        var dgamma = Empty(new Shape(s.P), x.Device);
        var dbeta = Empty(new Shape(s.P), x.Device);
        using var sumG = Empty(new Shape(groups), x.Device);
        using var sumGX = Empty(new Shape(groups), x.Device);
        s.HasGamma = gamma is null ? 0 : 1;
        if (x.Device.IsHost)
        {
            fixed (float* gp = gy.HostSpan, xp = x.HostSpan, wp = SpanOf(gamma), mp = mean.HostSpan, ip = invstd.HostSpan, dp = dx.HostSpan,
                   sg = sumG.HostSpan, sx = sumGX.HostSpan, dgp = dgamma.HostSpan, dbp = dbeta.HostSpan)
            {
                NormalizationKernels.BackwardCpu(x.Device.Parallel, gp, xp, wp, mp, ip, dp, sg, sx, s);
                NormalizationKernels.ParamGradCpu(sg, sx, dgp, dbp, s);
            }
        }
        else
        {
            var d = x.Device;
            // With B = 1 (batch norm) a statistics group is a channel: its Σg and Σ(g·x̂) are dβ and dγ, written in place.
            var sg = s.B == 1 ? dbeta.View : sumG.View;
            var sgx = s.B == 1 ? dgamma.View : sumGX.View;
            if (NormalizationKernels.Chunking(s, d.GpuOptions) is not (int chunk, int chunks))
            {
                int threads = NormalizationKernels.GroupThreads(s);
                d.Launch(NormalizationKernels.NormBackwardKernel, new KernelConfig(groups, threads), NormalizationKernels.BackwardCost(s, threads),
                    gy.View, x.View, ViewOr(gamma, x), mean.View, invstd.View, dx.View, sg, sgx, s);
            }
            else
            {
                // A large statistics group: chunk sums in parallel, their merge (dγ, dβ too when B = 1), then dx elementwise.
                long n = x.Size;
                using var partial = Empty(new Shape(2 * groups * chunks), x.Device);
                var partialCost = new LaunchCost(Flops: 4 * n, BytesRead: 2 * n * sizeof(float), BytesWritten: 2L * groups * chunks * sizeof(float),
                    SerialLoop: chunk / NormalizationKernels.GroupSize + 8);
                d.Launch(NormalizationKernels.NormBackwardPartialKernel, new KernelConfig(groups * chunks, NormalizationKernels.GroupSize), partialCost,
                    gy.View, x.View, mean.View, partial.View, s, chunk, chunks);
                var combineCost = new LaunchCost(Flops: 2L * groups * chunks + groups, BytesRead: 2L * groups * (chunks + 1) * sizeof(float),
                    BytesWritten: 4L * groups * sizeof(float), SerialLoop: chunks);
                d.Launch(NormalizationKernels.NormBackwardCombineKernel, groups, combineCost, partial.View, invstd.View, sg, sgx, chunks);
                // Per element: 5 operations (the per-group k, mg, q are 5 more, recomputed per element but negligible); g, x read, dx written.
                var applyCost = new LaunchCost(Flops: 10 * n, BytesRead: (2 * n + 4L * groups + s.HasGamma * (long)s.P) * sizeof(float), BytesWritten: n * sizeof(float), SerialLoop: 1);
                d.Launch(NormalizationKernels.NormBackwardApplyKernel, x.Size, applyCost, gy.View, x.View, ViewOr(gamma, x), mean.View, invstd.View, sg, sgx, dx.View, s);
            }
            if (s.B != 1)
            {
                // One thread per channel adds its B group sums of Σg and Σg·x̂ in b order (with B = 1 the kernels above wrote them).
                var paramCost = new LaunchCost(Flops: 2L * groups, BytesRead: 2L * groups * sizeof(float), BytesWritten: 2L * s.P * sizeof(float), SerialLoop: s.B);
                d.Launch(NormalizationKernels.NormParamGradKernel, s.P, paramCost, sumG.View, sumGX.View, dgamma.View, dbeta.View, s);
            }
        }
        return [dx, dgamma, dbeta];
    }

    private static unsafe void UpdateRunningStatsRaw(Tensor runningMean, Tensor runningVar, Tensor mean, Tensor variance, float momentum, float unbias,
        Tensor? counter = null, float count = 0f)
    {
        int c = mean.Size;
        if (runningMean.Device.IsHost)
        {
            Span<float> rm = runningMean.HostSpan, rv = runningVar.HostSpan, m = mean.HostSpan, v = variance.HostSpan;
            for (int i = 0; i < c; i++)
            {
                rm[i] = (1f - momentum) * rm[i] + momentum * m[i];
                rv[i] = (1f - momentum) * rv[i] + momentum * (v[i] * unbias);
            }
            if (counter is not null) counter.HostSpan[0] = count;
        }
        else
        {
            // Per channel: two blends (4 and 5 operations), four vectors read, two written (and the counter).
            runningMean.Device.Launch(NormalizationKernels.UpdateRunningStatsKernel, c, LaunchCost.Elementwise(c, 9, 4, 2),
                mean.View, variance.View, runningMean.View, runningVar.View, momentum, unbias, (counter ?? runningMean).View, count, counter is null ? 0 : 1);
        }
    }

    private static Tensor InvStdRaw(Tensor variance, float eps)
    {
        var invstd = Empty(variance.Shape, variance.Device);
        if (variance.Device.IsHost)
        {
            Span<float> v = variance.HostSpan, r = invstd.HostSpan;
            for (int i = 0; i < v.Length; i++) r[i] = (float)(1.0 / Math.Sqrt(v[i] + eps));
        }
        else
        {
            variance.Device.Launch(NormalizationKernels.InvStdKernel, variance.Size, LaunchCost.Elementwise(variance.Size, 3, 1), variance.View, invstd.View, eps);
        }
        return invstd;
    }

    // ============================================================ public ops and derivative rules

    /// <summary>
    /// Batch normalisation over (N, H, W) per channel of this (N, C, H, W) (or (N, C), as BatchNorm1d). Training: batch statistics
    /// (biased variance for normalising), and runningMean/runningVar updated in place with momentum
    /// (PyTorch: running = (1 − momentum)·running + momentum·batch, unbiased variance for running_var).
    /// Eval: the running statistics (batch statistics when none are given). gamma/beta: (C) or null (no affine).
    /// <paramref name="batchCounter"/> (a one-element num_batches_tracked buffer), when given with running statistics in
    /// training, is set to <paramref name="batchesTracked"/> in the same launch that updates them.
    /// </summary>
    public Tensor BatchNorm2d(Tensor? gamma, Tensor? beta, Tensor? runningMean, Tensor? runningVar, bool training, float momentum = 0.1f, float eps = 1e-5f,
        Tensor? batchCounter = null, long batchesTracked = 0)
    {
        if (Rank != 2 && Rank != 4) throw new ShapeMismatchException($"BatchNorm2d: expects (N, C, H, W) or (N, C), got {Describe()}");
        using var _ = Device.BeginOp("BatchNorm2d");
        if ((runningMean is null) != (runningVar is null)) throw new ArgumentException("BatchNorm2d: give both runningMean and runningVar, or neither");
        int n = Shape[0], c = Shape[1], hw = Rank == 4 ? Shape[2] * Shape[3] : 1;
        CheckPerChannel(gamma, c, "BatchNorm2d", "gamma");
        CheckPerChannel(beta, c, "BatchNorm2d", "beta");
        CheckPerChannel(runningMean, c, "BatchNorm2d", "runningMean");
        CheckPerChannel(runningVar, c, "BatchNorm2d", "runningVar");
        var s = new NormParams { A = n, B = 1, P = c, L = hw, Eps = eps };
        if (training || runningMean is null)
        {
            int m = n * hw;
            if (training && m <= 1) throw new ArgumentException($"BatchNorm2d: training needs more than one value per channel, got input {Describe()}");
            bool update = training && runningMean is not null;
            if (update && batchCounter is not null)
            {
                CheckSameDevice(batchCounter, "BatchNorm2d");
                if (batchCounter.Size != 1) throw new ShapeMismatchException($"BatchNorm2d: batchCounter {batchCounter.Describe()} must have one element");
            }
            float unbias = (float)((double)m / (m - 1));
            // On an ILGPU device the launch that computes the batch statistics also updates the running ones (and the counter).
            var running = update && !Device.IsHost
                ? new RunningStats
                {
                    Mean = runningMean!.View, Var = runningVar!.View, Counter = (batchCounter ?? runningMean).View,
                    Momentum = momentum, Unbias = unbias, Count = batchesTracked, Update = 1, HasCounter = batchCounter is null ? 0 : 1,
                }
                : default;
            var y = NormalizeTraining("BatchNorm2d", s, gamma, beta, out var mean, out var variance, running);
            if (update && Device.IsHost)
                UpdateRunningStatsRaw(runningMean!, runningVar!, mean, variance, momentum, unbias, batchCounter, batchesTracked);
            return y;
        }
        return BatchNormEval(s, gamma, beta, runningMean, runningVar!);
    }

    /// <summary>Layer normalisation over all non-batch dimensions (C, H, W) of each sample; gamma/beta shaped like those dimensions, or null.</summary>
    public Tensor LayerNorm(Tensor? gamma, Tensor? beta, float eps = 1e-5f)
    {
        if (Rank < 2) throw new ShapeMismatchException($"LayerNorm: expects (N, ...) with at least one feature dimension, got {Describe()}");
        using var scope = Device.BeginOp("LayerNorm");
        var features = new Shape(Shape.ToArray()[1..]);
        foreach (var (p, name) in new[] { (gamma, "gamma"), (beta, "beta") })
        {
            if (p is null) continue;
            CheckSameDevice(p, "LayerNorm");
            if (p.Shape != features) throw new ShapeMismatchException($"LayerNorm: {name} {p.Describe()} must have the feature shape {features} of input {Describe()}");
        }
        var s = new NormParams { A = 1, B = Shape[0], P = 1, L = features.Size, Eps = eps };
        // The affine is per element of a sample, not per statistics group: composed broadcast ops.
        var y = NormalizeTraining("LayerNorm", s, null, null, out _, out _);
        if (gamma is not null) y = y.Mul(gamma);
        if (beta is not null) y = y.Add(beta);
        return y;
    }

    /// <summary>Instance normalisation over (H, W) per sample and channel; gamma/beta: (C) or null.</summary>
    public Tensor InstanceNorm2d(Tensor? gamma, Tensor? beta, float eps = 1e-5f)
    {
        if (Rank != 4) throw new ShapeMismatchException($"InstanceNorm2d: expects (N, C, H, W), got {Describe()}");
        using var scope = Device.BeginOp("InstanceNorm2d");
        CheckPerChannel(gamma, Shape[1], "InstanceNorm2d", "gamma");
        CheckPerChannel(beta, Shape[1], "InstanceNorm2d", "beta");
        var s = new NormParams { A = 1, B = Shape[0], P = Shape[1], L = Shape[2] * Shape[3], Eps = eps };
        return NormalizeTraining("InstanceNorm2d", s, gamma, beta, out _, out _);
    }

    private void CheckPerChannel(Tensor? p, int channels, string op, string name)
    {
        if (p is null) return;
        CheckSameDevice(p, op);
        if (p.Rank != 1 || p.Shape[0] != channels)
            throw new ShapeMismatchException($"{op}: {name} {p.Describe()} must have shape ({channels}) for input {Describe()}");
    }

    /// <summary>Normalises with the statistics of the input (fused kernel) and records the fused backward as the rule.</summary>
    private Tensor NormalizeTraining(string name, NormParams s, Tensor? gamma, Tensor? beta, out Tensor mean, out Tensor variance, RunningStats running = default)
    {
        var (y, mu, invstd, var) = NormForwardRaw(s, gamma, beta, running);
        mean = mu;
        variance = var;
        var x = this;
        var inputs = new List<Tensor> { this };
        if (gamma is not null) inputs.Add(gamma);
        if (beta is not null) inputs.Add(beta);
        return Autograd.Record(y, name, inputs.ToArray(), (g, need) =>
        {
            var d = NormBackward(g[0], x, gamma, mu, invstd, s);
            var r = new Tensor?[need.Length];
            r[0] = need[0] ? d[0] : null;
            int k = 1;
            if (gamma is not null) { r[k] = need[k] ? d[1] : null; k++; }
            if (beta is not null) r[k] = need[k] ? d[2] : null;
            return r;
        });
    }

    /// <summary>
    /// The fused normalisation backward as a differentiable op: outputs dx, dγ (P), dβ (P) given the upstream g,
    /// the input x and γ (μ and invstd are the forward's saved statistics of x). Its rule differentiates
    /// <see cref="NormBackwardComposed"/>, the same formula in composed ops.
    /// </summary>
    internal static Tensor[] NormBackward(Tensor g, Tensor x, Tensor? gamma, Tensor mean, Tensor invstd, NormParams s)
    {
        using var _ = x.Device.BeginOp("NormBackward");
        var outputs = NormBackwardRaw(g, x, gamma, mean, invstd, s);
        Tensor[] inputs = gamma is null ? [g, x] : [g, x, gamma];
        Autograd.Record(outputs, "NormBackward", inputs, (gg, need) =>
        {
            // ⟨gg, D(g, x, γ)⟩ recomputed with composed ops on stand-ins for the inputs, then differentiated.
            // With createGraph (recording on) the stand-ins are identity ops on the real inputs, so the result
            // stays connected for higher orders; gg's own history is not a path to the stand-ins, so it is held fixed.
            bool connected = Autograd.IsEnabled;
            using var _ = Autograd.EnableGrad();
            var leaves = new Tensor[inputs.Length];
            for (int i = 0; i < inputs.Length; i++)
            {
                if (need[i] && connected) leaves[i] = Autograd.Record(inputs[i].Detach(), "Identity", [inputs[i]], u => [u[0]]);
                else
                {
                    leaves[i] = inputs[i].Detach();
                    leaves[i].RequiresGrad = need[i];
                }
            }
            var d = NormBackwardComposed(leaves[0], leaves[1], gamma is null ? null : leaves[2], s);
            Tensor total = null!;
            for (int k = 0; k < 3; k++)
            {
                var term = d[k].Mul(connected ? gg[k] : gg[k].Detach()).Sum();
                total = k == 0 ? term : total.Add(term);
            }
            var wanted = Enumerable.Range(0, inputs.Length).Where(i => need[i]).ToArray();
            var grads = Autograd.Grad([total], wanted.Select(i => leaves[i]).ToArray(), createGraph: connected, allowUnused: true);
            var result = new Tensor?[inputs.Length];
            for (int w = 0; w < wanted.Length; w++) result[wanted[w]] = grads[w];
            return result;
        });
        return outputs;
    }

    /// <summary>
    /// The normalisation backward written with differentiable ops (μ and invstd recomputed from x): the source of
    /// the double-backward rule, and the oracle for the fused kernel. Returns dx, dγ (P), dβ (P).
    /// </summary>
    internal static Tensor[] NormBackwardComposed(Tensor g, Tensor x, Tensor? gamma, NormParams s)
    {
        int[] view = [s.A, s.B, s.P, s.L];
        int[] groupAxes = [0, 3];
        var x4 = x.Reshape(view);
        var g4 = g.Reshape(view);
        var xc = x4.Sub(x4.Mean(groupAxes, keepDim: true));
        var invstd = xc.Square().Mean(groupAxes, keepDim: true).AddScalar(s.Eps).Pow(-0.5f);   // (1, B, P, 1)
        var xhat = xc.Mul(invstd);
        var gw = gamma is null ? g4 : g4.Mul(gamma.Reshape(1, 1, s.P, 1));
        var centred = gw.Sub(gw.Mean(groupAxes, keepDim: true));
        var projection = xhat.Mul(gw.Mul(xhat).Mean(groupAxes, keepDim: true));
        // DerivativeSeam: a test may plant the wrong sign here to show the checks catch it.
        var dx = (DerivativeSeam.FlipNormSecondOrderTerm ? centred.Add(projection) : centred.Sub(projection)).Mul(invstd);
        return [dx.Reshape(x.Shape.ToArray()), g4.Mul(xhat).Sum([0, 1, 3]), g4.Sum([0, 1, 3])];
    }

    /// <summary>Eval-mode batch norm: affine per channel with the running statistics; its rule is composed ops.</summary>
    private Tensor BatchNormEval(NormParams s, Tensor? gamma, Tensor? beta, Tensor runningMean, Tensor runningVar)
    {
        // Copies: the running statistics may be updated in place before this backward runs.
        var mean = Empty(runningMean.Shape, Device);
        runningMean.CopyInto(mean);
        var invstd = InvStdRaw(runningVar, s.Eps);
        var y = NormApplyRaw(s, gamma, beta, mean, invstd);
        var x = this;
        var inputs = new List<Tensor> { this };
        if (gamma is not null) inputs.Add(gamma);
        if (beta is not null) inputs.Add(beta);
        int[] view = [s.A, s.B, s.P, s.L];
        return Autograd.Record(y, "BatchNorm2dEval", inputs.ToArray(), (g, need) =>
        {
            var g4 = g[0].Reshape(view);
            var invstd4 = invstd.Reshape(1, 1, s.P, 1);
            var r = new Tensor?[need.Length];
            if (need[0])
                r[0] = g4.Mul(gamma is null ? invstd4 : gamma.Reshape(1, 1, s.P, 1).Mul(invstd4)).Reshape(x.Shape.ToArray());
            int k = 1;
            if (gamma is not null)
            {
                if (need[k]) r[k] = g4.Mul(x.Reshape(view).Sub(mean.Reshape(1, 1, s.P, 1)).Mul(invstd4)).Sum([0, 1, 3]);
                k++;
            }
            if (beta is not null && need[k]) r[k] = g4.Sum([0, 1, 3]);
            return r;
        });
    }
}
