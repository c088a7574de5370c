using System.Buffers.Binary;
using System.IO.Compression;
using GpuGan.Gan.Imaging;
using GpuGan.Layers.Serialization;

namespace GpuGan.Gan.Data;

/// <summary>
/// Writes IDX files (the MNIST format) atomically; a path ending in ".gz" is gzipped.
/// Images are grey, (count, h, w) unsigned bytes, magic 0x00000803; labels magic 0x00000801.
/// </summary>
public static class IdxWriter
{
    /// <summary>Writes <paramref name="count"/> grey images of h × w bytes from <paramref name="bytes"/>.</summary>
    public static void WriteImages(string path, ReadOnlySpan<byte> bytes, int count, int h, int w)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (h < 1 || w < 1) throw new ArgumentException($"image size {h}x{w} is empty");
        long length = (long)count * h * w;
        if (bytes.Length < length)
            throw new ArgumentException($"bytes hold {bytes.Length}, {count} images of {h}x{w} need {length}", nameof(bytes));
        var header = new byte[16];
        BinaryPrimitives.WriteInt32BigEndian(header, IdxDataset.ImagesMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), h);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), w);
        Write(path, header, bytes[..(int)length].ToArray());
    }

    /// <summary>
    /// Writes <paramref name="count"/> grey images given as (count, 1, h, w) floats in [-1, 1],
    /// mapped to 0..255 as by <see cref="PngWriter.ToByte"/>.
    /// </summary>
    public static void WriteImages(string path, ReadOnlySpan<float> images, int count, int h, int w)
    {
        long length = (long)count * h * w;
        if (images.Length < length)
            throw new ArgumentException($"images hold {images.Length} floats, {count} images of {h}x{w} need {length}", nameof(images));
        var bytes = new byte[length];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = PngWriter.ToByte(images[i]);
        WriteImages(path, bytes, count, h, w);
    }

    /// <summary>Writes labels (each 0..255) as an IDX labels file.</summary>
    public static void WriteLabels(string path, ReadOnlySpan<int> labels)
    {
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, IdxDataset.LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), labels.Length);
        var body = new byte[labels.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] > 255) throw new ArgumentOutOfRangeException(nameof(labels), labels[i], $"label {i} does not fit in a byte");
            body[i] = (byte)labels[i];
        }
        Write(path, header, body);
    }

    private static void Write(string path, byte[] header, byte[] body)
    {
        bool gzip = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        AtomicFile.Write(path, stream =>
        {
            if (gzip)
            {
                using var gz = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true);
                gz.Write(header);
                gz.Write(body);
            }
            else
            {
                stream.Write(header);
                stream.Write(body);
            }
        });
    }
}
