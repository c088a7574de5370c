// resize-dump OUT SIZE FILE...: each file through ImageReader.ReadResized with every filter (resize so the shorter side
// is SIZE, centre crop), written as raw RGB bytes OUT/<name>.<filter>.rgb, for bench/images/compare_pil.py to compare
// with PIL's resize (torchvision's Resize(antialias=True) + CenterCrop on PIL images).
using GpuGan.Gan.Imaging;

namespace GpuGan.Bench;

internal static class ResizeDump
{
    public static void Run(string[] args)
    {
        string output = args[0];
        int size = int.Parse(args[1]);
        Directory.CreateDirectory(output);
        var reader = new ImageReader();
        foreach (string file in args[2..])
            foreach (var filter in Enum.GetValues<ResizeFilter>())
            {
                var image = reader.ReadResized(file, 3, size, size, filter, ImageFit.CenterCrop);
                File.WriteAllBytes(Path.Combine(output, $"{Path.GetFileNameWithoutExtension(file)}.{filter.ToString().ToLowerInvariant()}.rgb"), image.Pixels);
            }
    }
}
