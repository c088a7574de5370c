// Synthetic photographs of Petri dishes, a small imbalanced image set for conditional GANs.
//
// Each image, drawn in coordinates where the picture spans [0, 1]², shows:
//   - a dark bench background with a lighting gradient and the dish's soft shadow;
//   - a dish of radius 0.42–0.47 near the centre, with a lighter plastic rim and a highlight;
//   - amber agar with smooth low-frequency mottling, pixel noise and a darker meniscus;
//   - colonies: domed discs with soft edges, cream/white/yellow/orange/pink.
// Common case (label 0, p = 0.8): 3–8 large colonies (radius 0.045–0.09) near the centre.
// Rare case   (label 1, p = 0.2): 1–3 small colonies (radius 0.02–0.035) close to the rim.
// Everything is drawn from SplitMix64.ForStream(seed, index), so any sample is regenerated on
// demand in CopySample (a 64×64 image costs well under a millisecond) and nothing is cached.
namespace GpuGan.Gan.Data;

/// <summary>Synthetic RGB Petri-dish images; label 0 = common (large central colonies), 1 = rare (small colonies at the rim).</summary>
public sealed partial class PetriDataset : IDataset
{
    /// <summary>Probability of the rare case.</summary>
    public const double RareFraction = 0.2;

    private readonly ulong _seed;
    private readonly byte[] _labels;

    /// <summary>Creates <paramref name="count"/> dishes of <paramref name="imageSize"/>² pixels; (seed, index) fixes each image.</summary>
    public PetriDataset(int count, int imageSize = 64, long seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (imageSize < 8) throw new ArgumentOutOfRangeException(nameof(imageSize), imageSize, "image size must be at least 8");
        Count = count;
        Height = Width = imageSize;
        _seed = unchecked((ulong)seed);
        _labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            var rng = SplitMix64.ForStream(_seed, (ulong)i);
            _labels[i] = rng.NextDouble() < RareFraction ? (byte)1 : (byte)0;
        }
    }

    /// <inheritdoc/>
    public int Count { get; }

    /// <inheritdoc/>
    public int Channels => 3;

    /// <inheritdoc/>
    public int Height { get; }

    /// <inheritdoc/>
    public int Width { get; }

    /// <inheritdoc/>
    public int ClassCount => 2;

    /// <summary>"common" (label 0) and "rare" (label 1).</summary>
    public IReadOnlyList<string> ClassNames { get; } = ["common", "rare"];

    /// <inheritdoc/>
    public string Name => "petri";

    /// <inheritdoc/>
    public int Label(int index)
    {
        DatasetExtensions.CheckIndex(this, index);
        return _labels[index];
    }

    /// <summary>A colony: centre and radius in picture units, colour in [0, 1].</summary>
    public readonly record struct Colony(double X, double Y, double Radius, float R, float G, float B);

    /// <summary>The dish geometry and colonies of sample <paramref name="index"/>.</summary>
    public (double CentreX, double CentreY, double Radius, IReadOnlyList<Colony> Colonies) Describe(int index)
    {
        DatasetExtensions.CheckIndex(this, index);
        var scene = Scene.Create(_seed, index);
        return (scene.Cx, scene.Cy, scene.R, scene.Colonies);
    }

    /// <inheritdoc/>
    public void CopySample(int index, Span<float> destination)
    {
        DatasetExtensions.CheckIndex(this, index);
        DatasetExtensions.CheckDestination(this, destination);
        Scene.Create(_seed, index).Render(destination, Height);
    }

    private static readonly (float R, float G, float B)[] _colonyPalette =
    [
        (0.96f, 0.92f, 0.78f), // cream
        (0.97f, 0.97f, 0.94f), // white
        (0.98f, 0.86f, 0.30f), // yellow
        (0.97f, 0.58f, 0.20f), // orange
        (0.96f, 0.66f, 0.72f), // pink
    ];

    private static readonly (float R, float G, float B)[] _backgrounds =
    [
        (0.10f, 0.11f, 0.13f), // slate
        (0.05f, 0.06f, 0.09f), // black-blue
        (0.20f, 0.20f, 0.21f), // dark grey
        (0.14f, 0.16f, 0.22f), // navy
    ];

    private sealed partial class Scene
    {
        public double Cx, Cy, R, RimWidth, LightAngle, GradientAngle;
        public (float R, float G, float B) Background, Agar;
        public readonly List<Colony> Colonies = new();
        public readonly float[] Mottle = new float[7 * 7];
        public ulong NoiseSeed;

        public static Scene Create(ulong seed, int index)
        {
            var rng = SplitMix64.ForStream(seed, (ulong)index);
            bool rare = rng.NextDouble() < RareFraction; // the same first draw as the label
            var s = new Scene
            {
                Cx = 0.5 + rng.NextDouble(-0.03, 0.03),
                Cy = 0.5 + rng.NextDouble(-0.03, 0.03),
                R = rng.NextDouble(0.42, 0.47),
                RimWidth = rng.NextDouble(0.022, 0.032),
                LightAngle = rng.NextDouble(0, 2 * Math.PI),
                GradientAngle = rng.NextDouble(0, 2 * Math.PI),
                Background = Jitter(_backgrounds[rng.NextInt(_backgrounds.Length)], 0.02f, ref rng),
                Agar = Jitter((0.84f, 0.64f, 0.30f), 0.05f, ref rng),
                NoiseSeed = rng.NextUInt64(),
            };
            for (int i = 0; i < s.Mottle.Length; i++) s.Mottle[i] = (float)rng.NextDouble(-1, 1);

            double agarR = s.R - s.RimWidth;
            int n = rare ? rng.NextInt(1, 3) : rng.NextInt(3, 8);
            for (int k = 0; k < n; k++)
            {
                double r = rare ? rng.NextDouble(0.02, 0.035) : rng.NextDouble(0.045, 0.09);
                var colour = Jitter(_colonyPalette[rng.NextInt(_colonyPalette.Length)], 0.04f, ref rng);
                // Rejection-sample a spot that keeps colonies mostly apart.
                double x = 0, y = 0;
                for (int attempt = 0; attempt < 30; attempt++)
                {
                    double dist = rare
                        ? rng.NextDouble(0.80, 0.93) * agarR - r
                        : Math.Sqrt(rng.NextDouble()) * Math.Min(0.55 * agarR, agarR - r - 0.02);
                    double angle = rng.NextDouble(0, 2 * Math.PI);
                    x = s.Cx + dist * Math.Cos(angle);
                    y = s.Cy + dist * Math.Sin(angle);
                    bool clear = true;
                    foreach (var c in s.Colonies)
                        if (Math.Sqrt((c.X - x) * (c.X - x) + (c.Y - y) * (c.Y - y)) < 0.85 * (c.Radius + r)) { clear = false; break; }
                    if (clear) break;
                }
                s.Colonies.Add(new Colony(x, y, r, colour.R, colour.G, colour.B));
            }
            return s;
        }

        // Writes (3, size, size) values in [-1, 1].
        public void Render(Span<float> destination, int size)
        {
            int plane = size * size;
            double px = 1.0 / size;
            double agarR = R - RimWidth;
            double rimCentre = R - 0.5 * RimWidth;
            (double gx, double gy) = (Math.Cos(GradientAngle), Math.Sin(GradientAngle));
            (double lx, double ly) = (Math.Cos(LightAngle), Math.Sin(LightAngle));
            double shadowX = Cx - 0.02 * lx, shadowY = Cy - 0.02 * ly;
            var colonies = Colonies.ToArray();
            for (int iy = 0; iy < size; iy++)
                for (int ix = 0; ix < size; ix++)
                {
                    double u = (ix + 0.5) * px, v = (iy + 0.5) * px;
                    double dx = u - Cx, dy = v - Cy;
                    double d = Math.Sqrt(dx * dx + dy * dy);
                    float grain = PixelNoise(ix, iy) * 0.012f;

                    // Background: lighting gradient and the dish's soft shadow offset away from the light.
                    float light = (float)(0.04 * ((u - 0.5) * gx + (v - 0.5) * gy));
                    double sx = u - shadowX, sy = v - shadowY;
                    float shadow = (float)(0.5 * SmoothStep(R + 0.05, R - 0.01, Math.Sqrt(sx * sx + sy * sy)));
                    float br = (Background.R + light + grain) * (1 - shadow);
                    float bg = (Background.G + light + grain) * (1 - shadow);
                    float bb = (Background.B + light + grain) * (1 - shadow);
                    float r = br, g = bg, b = bb;

                    float inside = (float)SmoothStep(agarR + 0.5 * px, agarR - 0.5 * px, d);
                    if (inside > 0)
                    {
                        // Agar: mottled amber, darker towards the meniscus.
                        float mottle = Mottling(u, v) * 0.035f;
                        float meniscus = (float)(1 - 0.22 * SmoothStep(0.75 * agarR, agarR, d));
                        float ar = (Agar.R + mottle + grain) * meniscus;
                        float ag = (Agar.G + mottle * 0.9f + grain) * meniscus;
                        float ab = (Agar.B + mottle * 0.6f + grain) * meniscus;

                        // Colonies over the agar, each a domed disc with a soft edge.
                        foreach (ref readonly var c in colonies.AsSpan())
                        {
                            double edge = Math.Max(0.8 * px, 0.12 * c.Radius);
                            double reach = c.Radius + 0.5 * edge;
                            double ux = u - c.X, vy = v - c.Y;
                            if (Math.Abs(ux) >= reach || Math.Abs(vy) >= reach) continue;
                            double cd = Math.Sqrt(ux * ux + vy * vy);
                            float alpha = (float)SmoothStep(reach, c.Radius - 0.5 * edge, cd);
                            if (alpha <= 0) continue;
                            double t = Math.Min(cd / c.Radius, 1);
                            // Dome: brighter top, lit on the side facing the light, darker edge.
                            double facing = (ux * lx + vy * ly) / c.Radius;
                            float shade = (float)((0.80 + 0.22 * (1 - t * t) + 0.08 * facing) * (1 - 0.12 * SmoothStep(0.65, 1.0, t)));
                            ar += alpha * (c.R * shade - ar);
                            ag += alpha * (c.G * shade - ag);
                            ab += alpha * (c.B * shade - ab);
                        }
                        r = Lerp(br, ar, inside);
                        g = Lerp(bg, ag, inside);
                        b = Lerp(bb, ab, inside);
                    }

                    // Rim: light plastic ring with a highlight facing the light.
                    float rim = (float)SmoothStep(0.5 * RimWidth + px, 0.5 * RimWidth - 0.3 * px, Math.Abs(d - rimCentre));
                    float onDish = (float)SmoothStep(R + 0.6 * px, R - 0.6 * px, d);
                    float rimAlpha = 0.85f * rim * onDish;
                    if (rimAlpha > 0)
                    {
                        double cosToLight = Math.Max(0, (dx * lx + dy * ly) / (d + 1e-9));
                        double c2 = cosToLight * cosToLight;
                        float rimLevel = (float)(0.62 + 0.25 * c2 * c2 * c2) + grain;
                        r = Lerp(r, rimLevel * 0.95f, rimAlpha);
                        g = Lerp(g, rimLevel * 0.97f, rimAlpha);
                        b = Lerp(b, rimLevel, rimAlpha);
                    }

                    int p = iy * size + ix;
                    destination[p] = ToSigned(r);
                    destination[plane + p] = ToSigned(g);
                    destination[2 * plane + p] = ToSigned(b);
                }
        }

        // Smooth value noise on a 6×6-cell lattice over the picture.
        private float Mottling(double u, double v)
        {
            double gx = Math.Clamp(u, 0, 1) * 6, gy = Math.Clamp(v, 0, 1) * 6;
            int x0 = Math.Min((int)gx, 5), y0 = Math.Min((int)gy, 5);
            double fx = Fade(gx - x0), fy = Fade(gy - y0);
            float a = Mottle[y0 * 7 + x0], b = Mottle[y0 * 7 + x0 + 1];
            float c = Mottle[(y0 + 1) * 7 + x0], d = Mottle[(y0 + 1) * 7 + x0 + 1];
            return (float)((a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy);
        }

        // Uniform in [-1, 1], a hash of (noise seed, pixel) so it does not depend on draw order.
        private float PixelNoise(int x, int y) =>
            (float)((SplitMix64.Mix(NoiseSeed ^ ((ulong)y << 32 | (uint)x)) >> 40) * (2.0 / (1 << 24)) - 1.0);

        private static (float R, float G, float B) Jitter((float R, float G, float B) c, float amount, ref SplitMix64 rng) =>
            (c.R + amount * (float)rng.NextDouble(-1, 1), c.G + amount * (float)rng.NextDouble(-1, 1), c.B + amount * (float)rng.NextDouble(-1, 1));

        private static double Fade(double t) => t * t * (3 - 2 * t);

        // 0 at edge0, 1 at edge1 (either order), Hermite in between.
        private static double SmoothStep(double edge0, double edge1, double x)
        {
            double t = Math.Clamp((x - edge0) / (edge1 - edge0), 0, 1);
            return t * t * (3 - 2 * t);
        }

        private static float Lerp(float a, float b, float t) => a + (b - a) * t;

        private static float ToSigned(float v) => Math.Clamp(v, 0f, 1f) * 2f - 1f;
    }
}
