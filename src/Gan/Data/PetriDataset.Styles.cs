// More renderings of the same synthetic Petri dishes, for the image-to-image sets:
//   layout      one channel: −1 outside the dish, 0 on the dish (agar and rim), +1 on colonies, with
//               the colonies' soft edges — the generator's own scene, as a label map (petri-pairs' A);
//   flat        "synthetic" style: flat light-grey bench, flat pale agar, a thin dark rim line, flat
//               colony colours; no lighting, shadow, texture, noise or glare (petri-styles' A);
//   realistic   the photo rendering of the petri set (lighting gradient, shadow, mottled agar, pixel
//               noise, domed colonies) plus glare: a soft specular highlight on the lid towards the
//               light and a faint reflected arc opposite it (petri-styles' B).
// Each is a pure function of (seed, index), like the photo, so nothing is cached.
namespace GpuGan.Gan.Data;

/// <summary>How a Petri dish is drawn.</summary>
public enum PetriStyle
{
    /// <summary>The petri set's photo rendering.</summary>
    Photo,
    /// <summary>Flat synthetic rendering: no lighting, texture or glare.</summary>
    Flat,
    /// <summary>The photo rendering with glare on the lid.</summary>
    Realistic,
}

public sealed partial class PetriDataset
{
    /// <summary>Writes the one-channel layout of dish <paramref name="index"/>: −1 outside, 0 on the dish, +1 on colonies.</summary>
    public void CopyLayout(int index, Span<float> destination)
    {
        DatasetExtensions.CheckIndex(this, index);
        if (destination.Length < Height * Width) throw new ArgumentException($"destination holds {destination.Length} floats, a layout needs {Height * Width}", nameof(destination));
        Scene.Create(_seed, index).RenderLayout(destination, Height);
    }

    /// <summary>Writes dish <paramref name="index"/> drawn in <paramref name="style"/>, (3, H, W) in [-1, 1].</summary>
    public void CopyStyled(int index, Span<float> destination, PetriStyle style)
    {
        DatasetExtensions.CheckIndex(this, index);
        DatasetExtensions.CheckDestination(this, destination);
        var scene = Scene.Create(_seed, index);
        switch (style)
        {
            case PetriStyle.Photo: scene.Render(destination, Height); break;
            case PetriStyle.Flat: scene.RenderFlat(destination, Height); break;
            case PetriStyle.Realistic:
                scene.Render(destination, Height);
                scene.AddGlare(destination, Height);
                break;
            default: throw new ArgumentOutOfRangeException(nameof(style), style, "unknown style");
        }
    }

    private sealed partial class Scene
    {
        // Dish coverage and the strongest colony coverage at picture point (u, v), with the photo's soft edges.
        private (float Dish, float Colony, int Which) Coverage(double u, double v, double px)
        {
            double d = Math.Sqrt((u - Cx) * (u - Cx) + (v - Cy) * (v - Cy));
            float dish = (float)Step(R + 0.5 * px, R - 0.5 * px, d);
            float colony = 0;
            int which = -1;
            for (int k = 0; k < Colonies.Count; k++)
            {
                var c = Colonies[k];
                double edge = Math.Max(0.8 * px, 0.12 * c.Radius);
                double reach = c.Radius + 0.5 * edge;
                double ux = u - c.X, vy = v - c.Y;
                if (Math.Abs(ux) >= reach || Math.Abs(vy) >= reach) continue;
                float alpha = (float)Step(reach, c.Radius - 0.5 * edge, Math.Sqrt(ux * ux + vy * vy));
                if (alpha > colony) { colony = alpha; which = k; }
            }
            return (dish, colony * dish, which);
        }

        public void RenderLayout(Span<float> destination, int size)
        {
            double px = 1.0 / size;
            for (int iy = 0; iy < size; iy++)
                for (int ix = 0; ix < size; ix++)
                {
                    var (dish, colony, _) = Coverage((ix + 0.5) * px, (iy + 0.5) * px, px);
                    destination[iy * size + ix] = -1f + dish + colony;
                }
        }

        public void RenderFlat(Span<float> destination, int size)
        {
            int plane = size * size;
            double px = 1.0 / size;
            (float R, float G, float B) bench = (0.78f, 0.78f, 0.80f), agar = (0.93f, 0.87f, 0.55f), rimLine = (0.35f, 0.35f, 0.38f);
            double rimCentre = R - 0.5 * RimWidth;
            for (int iy = 0; iy < size; iy++)
                for (int ix = 0; ix < size; ix++)
                {
                    double u = (ix + 0.5) * px, v = (iy + 0.5) * px;
                    var (dish, colony, which) = Coverage(u, v, px);
                    float r = Mix(bench.R, agar.R, dish), g = Mix(bench.G, agar.G, dish), b = Mix(bench.B, agar.B, dish);
                    if (which >= 0)
                    {
                        var c = Colonies[which];
                        r = Mix(r, c.R, colony);
                        g = Mix(g, c.G, colony);
                        b = Mix(b, c.B, colony);
                    }
                    double d = Math.Sqrt((u - Cx) * (u - Cx) + (v - Cy) * (v - Cy));
                    float line = (float)Step(0.25 * RimWidth + px, 0.25 * RimWidth, Math.Abs(d - rimCentre));
                    r = Mix(r, rimLine.R, line);
                    g = Mix(g, rimLine.G, line);
                    b = Mix(b, rimLine.B, line);
                    int p = iy * size + ix;
                    destination[p] = 2f * r - 1f;
                    destination[plane + p] = 2f * g - 1f;
                    destination[2 * plane + p] = 2f * b - 1f;
                }
        }

        public void AddGlare(Span<float> destination, int size)
        {
            int plane = size * size;
            double px = 1.0 / size;
            (double lx, double ly) = (Math.Cos(LightAngle), Math.Sin(LightAngle));
            // The highlight sits on the lid between the centre and the rim, towards the light; the arc opposite.
            double hx = Cx + 0.55 * R * lx, hy = Cy + 0.55 * R * ly;
            double sigma = 0.09 * R / 0.45;
            for (int iy = 0; iy < size; iy++)
                for (int ix = 0; ix < size; ix++)
                {
                    double u = (ix + 0.5) * px, v = (iy + 0.5) * px;
                    double dx = u - Cx, dy = v - Cy;
                    double d = Math.Sqrt(dx * dx + dy * dy);
                    double onLid = Step(R, R - 2 * px, d);
                    if (onLid <= 0) continue;
                    double spot = Math.Exp(-((u - hx) * (u - hx) + (v - hy) * (v - hy)) / (2 * sigma * sigma));
                    double away = Math.Max(0, -(dx * lx + dy * ly) / (d + 1e-9));
                    double arc = away * away * Math.Exp(-Math.Pow((d - 0.82 * R) / (0.03 * R / 0.45), 2));
                    float glare = (float)(onLid * Math.Min(1, 0.75 * spot + 0.3 * arc));
                    int p = iy * size + ix;
                    for (int c = 0; c < 3; c++)
                    {
                        float value = (destination[c * plane + p] + 1f) * 0.5f;
                        value += glare * (1f - value);
                        destination[c * plane + p] = 2f * value - 1f;
                    }
                }
        }

        private static float Mix(float a, float b, float t) => a + (b - a) * t;

        // 0 at edge0, 1 at edge1 (either order), Hermite in between.
        private static double Step(double edge0, double edge1, double x)
        {
            double t = Math.Clamp((x - edge0) / (edge1 - edge0), 0, 1);
            return t * t * (3 - 2 * t);
        }
    }
}
