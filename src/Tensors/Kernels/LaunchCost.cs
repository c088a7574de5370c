namespace GpuGan.Tensors;

/// <summary>
/// The work one kernel launch does, as its launcher declares it. A launch is recorded with this
/// cost so that a GPU model can estimate its time without running it (see <see cref="LaunchRecorder"/>).
/// </summary>
/// <remarks>
/// Conventions, the same for every launcher:
/// <list type="bullet">
/// <item><see cref="Flops"/> counts every floating-point add, multiply, divide, comparison
/// (max/min) and transcendental (exp, log, sqrt, tanh) as one operation; index arithmetic is
/// not counted. An FMA is two.</item>
/// <item><see cref="BytesRead"/> and <see cref="BytesWritten"/> are the compulsory memory
/// traffic: every distinct element the launch reads is counted once (as if caches caught all
/// reuse), every element it stores once.</item>
/// <item><see cref="SerialLoop"/> is the number of elements one thread walks in sequence
/// (the sum over its loops), for the thread that walks the most: 1 for an elementwise kernel,
/// the reduced length for a one-thread-per-output reduction, k for a GEMM thread.</item>
/// </list>
/// </remarks>
/// <param name="Flops">Floating-point operations of the whole launch.</param>
/// <param name="BytesRead">Distinct bytes read from device memory.</param>
/// <param name="BytesWritten">Bytes written to device memory.</param>
/// <param name="SerialLoop">Elements the busiest thread processes one after another.</param>
public readonly record struct LaunchCost(long Flops, long BytesRead, long BytesWritten, long SerialLoop)
{
    /// <summary>
    /// An elementwise launch over <paramref name="elements"/> outputs: each reads
    /// <paramref name="readsPerElement"/> float32 inputs, does <paramref name="flopsPerElement"/>
    /// operations and writes <paramref name="writesPerElement"/> floats; one element per thread.
    /// </summary>
    public static LaunchCost Elementwise(long elements, int flopsPerElement, int readsPerElement, int writesPerElement = 1)
        => new(elements * flopsPerElement, elements * readsPerElement * sizeof(float), elements * writesPerElement * sizeof(float), 1);
}
