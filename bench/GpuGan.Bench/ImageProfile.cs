// images-profile DIR SIZE CHANNELS [FILES]: where one thread's time goes when the folder loader reads a file, each
// stage timed apart over the first FILES files (default 2 000) of DIR, after one warm-up pass: reading the bytes,
// Image.Identify, decoding to Rgba32 and to L8, AutoOrient, the luma conversion, ImageSharp's resize of the grey or
// RGB image to SIZE, copying the pixels out; then ImageReader.ReadResized whole (what the loader calls per file).
// Prints µs per image and bytes allocated per image (this thread) for each stage.
using System.Diagnostics;
using GpuGan.Gan.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace GpuGan.Bench;

internal static class ImageProfile
{
    public static void Run(string[] args)
    {
        string dir = args[0];
        int size = int.Parse(args[1]), channels = int.Parse(args[2]), count = args.Length > 3 ? int.Parse(args[3]) : 2000;
        var files = Directory.EnumerateFiles(dir).OrderBy(f => f, StringComparer.Ordinal).Take(count).ToArray();
        var configuration = new Configuration(new PngConfigurationModule(), new JpegConfigurationModule()) { MaxDegreeOfParallelism = 1 };
        var reader = new ImageReader();
        var bytes = files.Select(File.ReadAllBytes).ToArray();
        var stages = new (string Name, Action<int> Body)[]
        {
            ("read file bytes", i => File.ReadAllBytes(files[i])),
            ("Identify", i => Image.Identify(configuration, new MemoryStream(bytes[i]), out _)),
            ("Load<Rgba32>", i => Image.Load<Rgba32>(configuration, new MemoryStream(bytes[i])).Dispose()),
            ("Load<L8>", i => Image.Load<L8>(configuration, new MemoryStream(bytes[i])).Dispose()),
            ("Load<Rgb24>", i => Image.Load<Rgb24>(configuration, new MemoryStream(bytes[i])).Dispose()),
            ("Load<L8> + AutoOrient", i =>
            {
                using var image = Image.Load<L8>(configuration, new MemoryStream(bytes[i]));
                image.Mutate(x => x.AutoOrient());
            }),
            ("Load<L8> + Resize (ImageSharp)", i =>
            {
                using var image = Image.Load<L8>(configuration, new MemoryStream(bytes[i]));
                image.Mutate(x => x.Resize(new ResizeOptions { Size = new Size(size, size), Mode = SixLabors.ImageSharp.Processing.ResizeMode.Stretch, Sampler = KnownResamplers.Triangle }));
            }),
            ("Load<Rgb24> + Resize (ImageSharp)", i =>
            {
                using var image = Image.Load<Rgb24>(configuration, new MemoryStream(bytes[i]));
                image.Mutate(x => x.Resize(new ResizeOptions { Size = new Size(size, size), Mode = SixLabors.ImageSharp.Processing.ResizeMode.Stretch, Sampler = KnownResamplers.Triangle }));
            }),
            ("ImageReader.ReadResized (file)", i => reader.ReadResized(files[i], channels, size, size, ResizeFilter.Bilinear)),
            ("ImageReader.Read (file, own size)", i => reader.Read(files[i], channels)),
        };
        Console.WriteLine($"{dir}: {files.Length} files, to {size}x{size}x{channels}, one thread");
        foreach (var (name, body) in stages)
        {
            for (int i = 0; i < Math.Min(200, files.Length); i++) body(i);   // warm-up: JIT, pools
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < files.Length; i++) body(i);
            double us = clock.Elapsed.TotalMicroseconds / files.Length;
            long perImage = (GC.GetAllocatedBytesForCurrentThread() - allocated) / files.Length;
            Console.WriteLine($"  {name,-36} {us,8:F1} µs/image {perImage,9} B/image");
        }
    }
}
