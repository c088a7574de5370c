// Stopwatch timings of the image-folder loader (decode + resize + centre crop, all files, both cores), for the
// before/after figures of the ImageSharp move (issue 20); bench/images/throughput.sh pairs two builds on them.
//   images-make DIR [FASHION_IDX_GZ]
//       writes DIR/png28 (10 000 grey 28×28 PNGs: the first 10 000 images of the given Fashion-MNIST IDX file, or
//       Fashion-MNIST-like blobs without one) and DIR/jpeg256 (2 000 RGB 256×256 JPEGs: smooth gradients, edges and
//       noise, photo-like to a JPEG encoder)
//   images-quick DIR SIZE CHANNELS [REPEATS]
//       loads DIR at SIZE×SIZE REPEATS times; prints one line per repeat: images/s and the cores used (process CPU
//       time over wall time), so the raw figures can be kept and compared by min and median
//   images-profile DIR SIZE CHANNELS [FILES]
//       one thread, the reader's stages timed apart on the first FILES files of DIR (see ImageProfile)
// The data files stay the same whichever build runs them; only the reader differs.
using System.Diagnostics;
using System.IO.Compression;
using GpuGan.Gan.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Bench;

internal static class ImageLoadQuick
{
    public static void Make(string[] args)
    {
        string root = args[0];
        var random = new Random(20);
        string png = Path.Combine(root, "png28"), jpeg = Path.Combine(root, "jpeg256");
        Directory.CreateDirectory(png);
        Directory.CreateDirectory(jpeg);
        byte[]? fashion = args.Length > 1 ? FashionImages(args[1], 10000) : null;
        for (int i = 0; i < 10000; i++)
        {
            using var image = new Image<L8>(28, 28);
            double cx = 8 + random.NextDouble() * 12, cy = 8 + random.NextDouble() * 12, r = 4 + random.NextDouble() * 8;
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                {
                    double d = Math.Sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
                    image[x, y] = fashion is not null
                        ? new L8(fashion[i * 784 + y * 28 + x])
                        : new L8((byte)Math.Clamp(255 * (1 - d / r) + random.Next(-10, 10), 0, 255));
                }
            image.SaveAsPng(Path.Combine(png, $"{i:D5}.png"));
        }
        for (int i = 0; i < 2000; i++)
        {
            using var image = new Image<Rgb24>(256, 256);
            int edge = random.Next(64, 192);
            for (int y = 0; y < 256; y++)
                for (int x = 0; x < 256; x++)
                {
                    int n = random.Next(-12, 12);
                    image[x, y] = x < edge
                        ? new Rgb24((byte)Math.Clamp(x + n, 0, 255), (byte)Math.Clamp(y + n, 0, 255), (byte)Math.Clamp(128 + n, 0, 255))
                        : new Rgb24((byte)Math.Clamp(255 - y + n, 0, 255), (byte)Math.Clamp(64 + n, 0, 255), (byte)Math.Clamp(x / 2 + n, 0, 255));
                }
            image.SaveAsJpeg(Path.Combine(jpeg, $"{i:D4}.jpg"), new JpegEncoder { Quality = 90 });
        }
        Console.WriteLine($"wrote {png} ({(fashion is null ? "synthetic blobs" : "Fashion-MNIST")}) and {jpeg}");
    }

    /// <summary>The first <paramref name="count"/> 28×28 images of a gzipped IDX3 file, as bytes.</summary>
    private static byte[] FashionImages(string path, int count)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        var header = new byte[16];
        gz.ReadExactly(header);
        if (header[2] != 8 || header[3] != 3 || header[11] != 28 || header[15] != 28) throw new InvalidDataException($"{path}: not 28x28 IDX3 bytes");
        var pixels = new byte[count * 784];
        gz.ReadExactly(pixels);
        return pixels;
    }

    public static void Run(string[] args)
    {
        string dir = args[0];
        int size = int.Parse(args[1]), channels = int.Parse(args[2]), repeats = args.Length > 3 ? int.Parse(args[3]) : 3;
        var process = Process.GetCurrentProcess();
        for (int r = 0; r < repeats; r++)
        {
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var data = ImageFolderDataset.Load(dir, size, channels);
            double seconds = clock.Elapsed.TotalSeconds;
            process.Refresh();
            double cores = (process.TotalProcessorTime - cpu).TotalSeconds / seconds;
            Console.WriteLine($"{dir}: {data.Count} images to {size}x{size}x{channels} in {seconds:F3} s: {data.Count / seconds:F0} images/s, {cores:F2} cores busy ({Environment.ProcessorCount} cores)");
        }
    }
}
