// Stopwatch timings of the image-folder loader (decode + resize + centre crop, all files, both cores), for the
// before/after figures of the ImageSharp move; quote them as indicative on a shared machine.
//   images-make DIR       writes DIR/png28 (10 000 grey 28×28 PNGs, Fashion-MNIST-like blobs) and DIR/jpeg256
//                         (2 000 RGB 256×256 JPEGs: smooth gradients, edges and noise, photo-like to a JPEG encoder)
//   images-quick DIR SIZE CHANNELS [REPEATS]   loads DIR at SIZE×SIZE, prints images/s (best of REPEATS)
using System.Diagnostics;
using GpuGan.Gan.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;

namespace GpuGan.Bench;

internal static class ImageLoadQuick
{
    public static void Make(string root)
    {
        var random = new Random(20);
        string png = Path.Combine(root, "png28"), jpeg = Path.Combine(root, "jpeg256");
        Directory.CreateDirectory(png);
        Directory.CreateDirectory(jpeg);
        for (int i = 0; i < 10000; i++)
        {
            using var image = new Image<L8>(28, 28);
            double cx = 8 + random.NextDouble() * 12, cy = 8 + random.NextDouble() * 12, r = 4 + random.NextDouble() * 8;
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                {
                    double d = Math.Sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
                    image[x, y] = new L8((byte)Math.Clamp(255 * (1 - d / r) + random.Next(-10, 10), 0, 255));
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
        Console.WriteLine($"wrote {png} and {jpeg}");
    }

    public static void Run(string[] args)
    {
        string dir = args[0];
        int size = int.Parse(args[1]), channels = int.Parse(args[2]), repeats = args.Length > 3 ? int.Parse(args[3]) : 3;
        double best = double.MaxValue;
        int count = 0;
        for (int r = 0; r < repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            var data = ImageFolderDataset.Load(dir, size, channels);
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
            count = data.Count;
        }
        Console.WriteLine($"{dir}: {count} images to {size}x{size}x{channels} in {best:F2} s: {count / best:F0} images/s ({Environment.ProcessorCount} cores)");
    }
}
