// Batches from an IDataset, shuffled per epoch, prepared on a background thread.
//
// Order: epoch e visits the samples in a Fisher-Yates permutation drawn from
// SplitMix64.ForStream(seed, e). The permutation depends only on (seed, epoch), never on
// earlier epochs, so positioning at (epoch, batch) reproduces exactly the batches an
// uninterrupted run would have produced from there.
//
// Double buffering: two Batch buffers circulate between a "free" and a "ready" queue. The
// worker fills a free buffer while the caller works on the batch it holds; a call to Next()
// hands the held buffer back and takes the ready one. So a Batch stays valid until the next
// call to Next() (or Seek/Dispose), and no arrays are allocated per step.
//
// Sharding (data-parallel training): with shard k of K, the loader walks the same global batches
// (same order, same epochs, same positions) but reads only part k of each, samples
// [k·B/K, (k + 1)·B/K) of the global batch of B: the K ranks together read every global batch
// exactly once, disjointly, and their positions (what a checkpoint holds) agree.
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace GpuGan.Gan.Data;

/// <summary>One mini-batch: <see cref="Count"/> samples, (Count, C, H, W) floats, and their labels.</summary>
public sealed class Batch
{
    internal Batch(int capacity, int sampleLength)
    {
        Data = new float[capacity * sampleLength];
        Labels = new int[capacity];
        Indices = new int[capacity];
        SampleLength = sampleLength;
    }

    /// <summary>(Capacity, C, H, W) floats in [-1, 1]; only the first Count·SampleLength are valid.</summary>
    public float[] Data { get; }

    /// <summary>Label of each sample, -1 when unlabelled; the first Count are valid.</summary>
    public int[] Labels { get; }

    /// <summary>Dataset index of each sample; the first Count are valid.</summary>
    public int[] Indices { get; }

    /// <summary>Samples in this batch (the batch size, except for a short last batch when dropLast is false).</summary>
    public int Count { get; internal set; }

    /// <summary>Floats per sample (C·H·W).</summary>
    public int SampleLength { get; }

    /// <summary>Epoch this batch belongs to, from 0.</summary>
    public int Epoch { get; internal set; }

    /// <summary>Position of this batch within its epoch, from 0.</summary>
    public int Index { get; internal set; }

    /// <summary>The valid part of <see cref="Data"/>.</summary>
    public ReadOnlySpan<float> Samples => Data.AsSpan(0, Count * SampleLength);
}

/// <summary>
/// Yields shuffled mini-batches of an <see cref="IDataset"/> epoch after epoch, preparing the
/// next batch on a background thread while the caller processes the current one. Deterministic:
/// given the seed and the epoch, the order is fixed. Not thread-safe: one consumer.
/// </summary>
public sealed class DataLoader : IDisposable
{
    private readonly IDataset _dataset;
    private readonly ulong _seed;
    private readonly Batch[] _buffers;
    private BlockingCollection<Batch> _free = new();
    private BlockingCollection<Batch> _ready = new();
    private Batch? _held;
    private Thread? _worker;
    private CancellationTokenSource? _cancel;
    private volatile ExceptionDispatchInfo? _failure;
    private bool _disposed;

    /// <summary>Creates a loader; the background thread starts with the first <see cref="Next"/>.</summary>
    /// <param name="dataset">The samples.</param>
    /// <param name="batchSize">Samples per batch.</param>
    /// <param name="seed">Seed of the per-epoch shuffles.</param>
    /// <param name="dropLast">Drop the last, short batch of each epoch (true) or yield it (false).</param>
    /// <param name="shuffle">Shuffle each epoch (true) or keep dataset order.</param>
    public DataLoader(IDataset dataset, int batchSize, long seed, bool dropLast = true, bool shuffle = true)
        : this(dataset, batchSize, seed, dropLast, shuffle, shardIndex: 0, shardCount: 1)
    {
    }

    /// <summary>
    /// A loader of part <paramref name="shardIndex"/> of <paramref name="shardCount"/> of every batch of <paramref name="batchSize"/>
    /// (see the file header): shuffled, the short last batch dropped. <paramref name="shardCount"/> must divide <paramref name="batchSize"/>.
    /// </summary>
    public static DataLoader Sharded(IDataset dataset, int batchSize, long seed, int shardIndex, int shardCount) =>
        new(dataset, batchSize, seed, dropLast: true, shuffle: true, shardIndex, shardCount);

    private DataLoader(IDataset dataset, int batchSize, long seed, bool dropLast, bool shuffle, int shardIndex, int shardCount)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be at least 1");
        if (dataset.Count == 0) throw new ArgumentException($"{dataset.Name} holds no samples", nameof(dataset));
        if (dropLast && dataset.Count < batchSize)
            throw new ArgumentException($"{dataset.Name} holds {dataset.Count} samples, fewer than one batch of {batchSize} (dropLast is set)", nameof(batchSize));
        if (shardCount < 1 || shardIndex < 0 || shardIndex >= shardCount)
            throw new ArgumentOutOfRangeException(nameof(shardIndex), shardIndex, $"shard {shardIndex} of {shardCount} does not exist");
        if (batchSize % shardCount != 0)
            throw new ArgumentException($"a batch of {batchSize} does not split into {shardCount} equal shards", nameof(batchSize));
        if (shardCount > 1 && !dropLast)
            throw new ArgumentException("a sharded loader drops the short last batch (it would not split evenly)", nameof(dropLast));
        _dataset = dataset;
        _seed = unchecked((ulong)seed);
        ShardIndex = shardIndex;
        ShardCount = shardCount;
        ShardBatchSize = batchSize / shardCount;
        BatchSize = batchSize;
        DropLast = dropLast;
        Shuffle = shuffle;
        BatchesPerEpoch = dropLast ? dataset.Count / batchSize : (dataset.Count + batchSize - 1) / batchSize;
        _buffers = [new Batch(ShardBatchSize, dataset.SampleLength()), new Batch(ShardBatchSize, dataset.SampleLength())];
    }

    /// <summary>The dataset read.</summary>
    public IDataset Dataset => _dataset;

    /// <summary>Samples per full batch.</summary>
    public int BatchSize { get; }

    /// <summary>The part of every batch this loader reads.</summary>
    public int ShardIndex { get; }

    /// <summary>Parts a batch is split into (1: the whole batch).</summary>
    public int ShardCount { get; }

    /// <summary>Samples of every batch this loader reads (<see cref="BatchSize"/> / <see cref="ShardCount"/>); the size of each <see cref="Batch"/>.</summary>
    public int ShardBatchSize { get; }

    /// <summary>Whether each epoch's short last batch is dropped.</summary>
    public bool DropLast { get; }

    /// <summary>Whether each epoch is shuffled.</summary>
    public bool Shuffle { get; }

    /// <summary>Batches in one epoch.</summary>
    public int BatchesPerEpoch { get; }

    /// <summary>Epoch of the batch the next <see cref="Next"/> returns.</summary>
    public int Epoch { get; private set; }

    /// <summary>Index within its epoch of the batch the next <see cref="Next"/> returns.</summary>
    public int BatchIndex { get; private set; }

    /// <summary>
    /// The order in which epoch <paramref name="epoch"/> visits the dataset (a permutation of
    /// 0..Count-1, or the identity when not shuffling).
    /// </summary>
    public int[] EpochOrder(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        var order = new int[_dataset.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (Shuffle) SplitMix64.ForStream(_seed, (ulong)epoch).Shuffle<int>(order);
        return order;
    }

    /// <summary>
    /// Positions the loader so that the next <see cref="Next"/> returns batch
    /// <paramref name="batchIndex"/> of epoch <paramref name="epoch"/>, exactly as an
    /// uninterrupted run would. Batches handed out before become invalid.
    /// </summary>
    public void Seek(int epoch, int batchIndex)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (batchIndex < 0 || batchIndex > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(batchIndex), batchIndex, $"an epoch has {BatchesPerEpoch} batches");
        StopWorker();
        if (batchIndex == BatchesPerEpoch) { epoch++; batchIndex = 0; }
        Epoch = epoch;
        BatchIndex = batchIndex;
    }

    /// <summary>
    /// The next batch, moving on to the next epoch after the last batch of one. The returned
    /// batch is valid until the next call to Next, Seek or Dispose.
    /// </summary>
    public Batch Next()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_worker is null) StartWorker();
        if (_held is not null)
        {
            _free.Add(_held);
            _held = null;
        }
        Batch batch;
        try
        {
            batch = _ready.Take();
        }
        catch (InvalidOperationException) when (_failure is not null)
        {
            _failure.Throw();
            throw; // unreachable
        }
        _held = batch;
        BatchIndex = batch.Index + 1;
        Epoch = batch.Epoch;
        if (BatchIndex == BatchesPerEpoch) { Epoch++; BatchIndex = 0; }
        return batch;
    }

    /// <summary>The remaining batches of the current epoch (all of them when positioned at its start).</summary>
    public IEnumerable<Batch> ReadEpoch()
    {
        int epoch = Epoch;
        while (Epoch == epoch) yield return Next();
    }

    /// <summary>Stops the background thread.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        StopWorker();
        _free.Dispose();
        _ready.Dispose();
    }

    private void StartWorker()
    {
        _failure = null;
        _free = new BlockingCollection<Batch>();
        _ready = new BlockingCollection<Batch>();
        foreach (var b in _buffers) _free.Add(b);
        _cancel = new CancellationTokenSource();
        var token = _cancel.Token;
        var free = _free;
        var ready = _ready;
        int epoch = Epoch, index = BatchIndex;
        _worker = new Thread(() => Produce(epoch, index, free, ready, token))
        {
            IsBackground = true,
            Name = $"DataLoader({_dataset.Name})",
        };
        _worker.Start();
    }

    private void StopWorker()
    {
        if (_worker is null) return;
        _cancel!.Cancel();
        _worker.Join();
        _cancel.Dispose();
        _cancel = null;
        _worker = null;
        _held = null;
        _free.Dispose();
        _ready.Dispose();
    }

    private void Produce(int epoch, int index, BlockingCollection<Batch> free, BlockingCollection<Batch> ready, CancellationToken token)
    {
        try
        {
            int length = _dataset.SampleLength();
            int[] order = EpochOrder(epoch);
            while (!token.IsCancellationRequested)
            {
                var batch = free.Take(token);
                int start = index * BatchSize + ShardIndex * ShardBatchSize;
                int count = Math.Min(ShardBatchSize, order.Length - start);
                for (int i = 0; i < count; i++)
                {
                    int sample = order[start + i];
                    _dataset.CopySample(sample, batch.Data.AsSpan(i * length, length));
                    batch.Labels[i] = _dataset.Label(sample);
                    batch.Indices[i] = sample;
                }
                batch.Count = count;
                batch.Epoch = epoch;
                batch.Index = index;
                ready.Add(batch, token);
                if (++index == BatchesPerEpoch)
                {
                    index = 0;
                    order = EpochOrder(++epoch);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _failure = ExceptionDispatchInfo.Capture(e);
            ready.CompleteAdding();
        }
    }
}
