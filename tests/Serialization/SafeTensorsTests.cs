using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using GpuGan.Layers.Serialization;
using NUnit.Framework;

namespace GpuGan.Tests.Serialization;

[TestFixture]
public class SafeTensorsTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "gpugan-safetensors-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    // ---------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------

    /// <summary>A file with the given header JSON, padded with spaces to 8 bytes unless told not to, and data bytes 0, 1, 2, ….</summary>
    private static byte[] Make(string headerJson, int dataLength, bool pad = true)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        int padded = pad ? (header.Length + 7) / 8 * 8 : header.Length;
        var bytes = new byte[8 + padded + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)padded);
        header.CopyTo(bytes, 8);
        bytes.AsSpan(8 + header.Length, padded - header.Length).Fill((byte)' ');
        for (int i = 0; i < dataLength; i++) bytes[8 + padded + i] = (byte)i;
        return bytes;
    }

    private static byte[] FloatBytes(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static SafeTensorEntry[] SampleEntries() =>
    [
        SafeTensorEntry.FromFloat32("gen.fc.weight", [2, 3], [1f, -2f, 3.5f, float.NaN, -0f, 1e-40f]),
        SafeTensorEntry.FromFloat64("gen.fc.bias", [2], [Math.PI, double.NegativeInfinity]),
        SafeTensorEntry.FromInt64("step", [], [123456789012345L]),
        SafeTensorEntry.FromInt32("labels", [4], [0, -1, int.MaxValue, int.MinValue]),
        new SafeTensorEntry("mask", SafeTensorDtype.U8, [3], new byte[] { 0, 1, 255 }),
        new SafeTensorEntry("empty", SafeTensorDtype.F32, [0, 5], Array.Empty<byte>()),
    ];

    private static void AssertSameEntries(IReadOnlyDictionary<string, SafeTensorEntry> actual, IEnumerable<SafeTensorEntry> expected)
    {
        var expectedList = expected.ToList();
        Assert.That(actual.Keys, Is.EquivalentTo(expectedList.Select(e => e.Name)));
        foreach (SafeTensorEntry e in expectedList)
        {
            SafeTensorEntry a = actual[e.Name];
            Assert.That(a.Dtype, Is.EqualTo(e.Dtype), e.Name);
            Assert.That(a.Shape, Is.EqualTo(e.Shape), e.Name);
            Assert.That(a.Data.ToArray(), Is.EqualTo(e.Data.ToArray()), e.Name);
        }
    }

    private string[] FilesInDir() => Directory.GetFiles(_dir).Select(Path.GetFileName).OfType<string>().OrderBy(n => n, StringComparer.Ordinal).ToArray();

    // ---------------------------------------------------------------------------------------
    // Round trips
    // ---------------------------------------------------------------------------------------

    [Test]
    public void Float32RoundTripIsBitExact()
    {
        int[] bits =
        [
            0x7FC00000, 0x7FC01234, 0x7F800001, 0x7FBFFFFF, unchecked((int)0xFFC00000), unchecked((int)0xFF812345), // NaNs incl. signalling, payloads
            unchecked((int)0x80000000), 0x00000000,                                                                // -0, +0
            0x00000001, 0x007FFFFF, unchecked((int)0x80000001), 0x00400000,                                        // subnormals
            0x7F800000, unchecked((int)0xFF800000), 0x7F7FFFFF, 0x00800000, 0x3F800000,                            // inf, max, min normal, 1
        ];
        float[] values = bits.Select(BitConverter.Int32BitsToSingle).ToArray();
        string path = Path.Combine(_dir, "f.safetensors");

        SafeTensors.Write(path, [SafeTensorEntry.FromFloat32("x", [values.Length], values)], null);
        float[] back = SafeTensors.Read(path).Tensors["x"].ToFloat32Array();

        Assert.That(back.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(bits));
    }

    [Test]
    public void Float64RoundTripIsBitExact()
    {
        long[] bits = [0x7FF8000000000000, 0x7FF0000000000001, 0x7FF8DEADBEEF0001, unchecked((long)0x8000000000000000), 1, 0x000FFFFFFFFFFFFF, 0x7FF0000000000000];
        double[] values = bits.Select(BitConverter.Int64BitsToDouble).ToArray();

        byte[] bytes = SafeTensors.Serialize([SafeTensorEntry.FromFloat64("d", [bits.Length], values)]);
        double[] back = SafeTensors.Read(bytes, "mem").Tensors["d"].ToFloat64Array();

        Assert.That(back.Select(BitConverter.DoubleToInt64Bits), Is.EqualTo(bits));
    }

    [Test]
    public void SeveralDtypesAndMetadataRoundTripThroughAFile()
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["epoch"] = "12",
            ["quote\"back\\slash\nnewline\u0001"] = "ünïcödé ✓ 𝄞 <&>",
            [""] = "",
        };
        SafeTensorEntry[] entries = SampleEntries();
        string path = Path.Combine(_dir, "model.safetensors");

        SafeTensors.Write(path, entries, metadata);
        SafeTensorFile file = SafeTensors.Read(path);

        AssertSameEntries(file.Tensors, entries);
        Assert.That(file.Metadata, Is.EquivalentTo(metadata));
        Assert.That(file.Tensors["step"].ToInt64Array(), Is.EqualTo(new[] { 123456789012345L }));
        Assert.That(file.Tensors["labels"].ToInt32Array(), Is.EqualTo(new[] { 0, -1, int.MaxValue, int.MinValue }));
        Assert.That(file.Tensors["step"].Shape, Is.Empty);
        Assert.That(file.Tensors["step"].ElementCount, Is.EqualTo(1));
        Assert.That(file.Tensors["empty"].ElementCount, Is.EqualTo(0));
        Assert.That(FilesInDir(), Is.EqualTo(new[] { "model.safetensors" }));
    }

    [Test]
    public void OutputIsDeterministicAndDataIsEightByteAligned()
    {
        SafeTensorEntry[] entries = SampleEntries();
        var metaA = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" };
        var metaB = new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" };

        byte[] first = SafeTensors.Serialize(entries, metaA);
        byte[] second = SafeTensors.Serialize(entries.Reverse(), metaB);

        Assert.That(second, Is.EqualTo(first));
        ulong headerSize = BinaryPrimitives.ReadUInt64LittleEndian(first);
        Assert.That(headerSize % 8, Is.EqualTo(0));
        // Reference order: dtype descending in the reference's enum order (I64, F64, F32, I32, U8), then name.
        string[] order = SafeTensors.Read(first, "mem").Tensors.Keys.ToArray();
        Assert.That(order, Is.EqualTo(new[] { "step", "gen.fc.bias", "empty", "gen.fc.weight", "labels", "mask" }));
    }

    // ---------------------------------------------------------------------------------------
    // Known-good bytes, built by hand as the Python/Rust `safetensors` library writes them
    // ---------------------------------------------------------------------------------------

    [Test]
    public void ReadsAndWritesTheReferenceLayoutForOneF32Tensor()
    {
        // Header is 54 bytes of JSON, padded with two spaces to 56.
        const string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        Assert.That(json.Length, Is.EqualTo(54));
        byte[] expected = Concat([56, 0, 0, 0, 0, 0, 0, 0], Encoding.ASCII.GetBytes(json + "  "), FloatBytes(1.5f, -2f));

        SafeTensorFile file = SafeTensors.Read(expected, "hand-built");

        Assert.That(file.Tensors["a"].Dtype, Is.EqualTo(SafeTensorDtype.F32));
        Assert.That(file.Tensors["a"].Shape, Is.EqualTo(new[] { 2 }));
        Assert.That(file.Tensors["a"].ToFloat32Array(), Is.EqualTo(new[] { 1.5f, -2f }));
        Assert.That(file.Metadata, Is.Empty);
        Assert.That(SafeTensors.Serialize([SafeTensorEntry.FromFloat32("a", [2], [1.5f, -2f])]), Is.EqualTo(expected));
    }

    [Test]
    public void MatchesReferenceLayoutWithoutPaddingMetadataAndEmptyFiles()
    {
        // 64-byte header needs no padding.
        const string json = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
        byte[] one = Concat([64, 0, 0, 0, 0, 0, 0, 0], Encoding.ASCII.GetBytes(json), FloatBytes(0, 1, 2, 3, 4, 5));
        Assert.That(SafeTensors.Serialize([SafeTensorEntry.FromFloat32("attn.0", [1, 2, 3], [0, 1, 2, 3, 4, 5])]), Is.EqualTo(one));

        byte[] empty = Concat([8, 0, 0, 0, 0, 0, 0, 0], Encoding.ASCII.GetBytes("{}      "));
        Assert.That(SafeTensors.Serialize([]), Is.EqualTo(empty));
        Assert.That(SafeTensors.Read(empty, "empty").Tensors, Is.Empty);

        byte[] meta = Concat([40, 0, 0, 0, 0, 0, 0, 0], Encoding.ASCII.GetBytes("{\"__metadata__\":{\"framework\":\"pt\"}}     "));
        Assert.That(SafeTensors.Serialize([], new Dictionary<string, string> { ["framework"] = "pt" }), Is.EqualTo(meta));
        Assert.That(SafeTensors.Read(meta, "meta").Metadata["framework"], Is.EqualTo("pt"));
    }

    [Test]
    public void ReadsUnpaddedHeaderInAnyKeyOrderAsOlderWritersProduced()
    {
        // 60-byte header ('<'), not padded; keys and entries in an order our writer would not choose.
        const string json = "{\"test\":{\"shape\":[2,2],\"data_offsets\":[0,16],\"dtype\":\"I32\"}}";
        Assert.That(json.Length, Is.EqualTo(60));
        byte[] bytes = Concat([60, 0, 0, 0, 0, 0, 0, 0], Encoding.ASCII.GetBytes(json), new byte[16]);

        SafeTensorFile file = SafeTensors.Read(bytes, "old");

        Assert.That(file.Tensors["test"].ToInt32Array(), Is.EqualTo(new[] { 0, 0, 0, 0 }));
        byte[] twoOutOfOrder = Make("{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 4);
        Assert.That(SafeTensors.Read(twoOutOfOrder, "order").Tensors["b"].Data.ToArray(), Is.EqualTo(new byte[] { 2, 3 }));
    }

    [Test]
    public void WriterOrdersByDtypeAlignmentThenNameAndEscapesLikeSerdeJson()
    {
        SafeTensorEntry[] entries =
        [
            new("c", SafeTensorDtype.U8, [1], new byte[] { 7 }),
            SafeTensorEntry.FromFloat32("b", [1], [1f]),
            SafeTensorEntry.FromInt64("a\"\t\u000b", [1], [2L]),
        ];
        string expectedJson = "{\"a\\\"\\t\\u000b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
            + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
            + "\"c\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[12,13]}}";
        byte[] expected = Concat(Make(expectedJson, 0), [2, 0, 0, 0, 0, 0, 0, 0], FloatBytes(1f), [7]);

        Assert.That(Encoding.UTF8.GetString(SafeTensors.Serialize(entries)), Is.EqualTo(Encoding.UTF8.GetString(expected)));
    }

    // ---------------------------------------------------------------------------------------
    // Refusals
    // ---------------------------------------------------------------------------------------

    [Test]
    public void EveryTruncationOfAValidFileIsRefused()
    {
        byte[] valid = SafeTensors.Serialize(
            [SafeTensorEntry.FromFloat32("w", [2, 2], [1, 2, 3, 4]), SafeTensorEntry.FromInt32("n", [1], [9])],
            new Dictionary<string, string> { ["k"] = "v" });
        Assume.That(SafeTensors.Read(valid, "full").Tensors, Has.Count.EqualTo(2));

        for (int length = 0; length < valid.Length; length++)
        {
            byte[] prefix = valid[..length];
            Assert.That(() => SafeTensors.Read(prefix, "prefix"), Throws.TypeOf<SafeTensorsFormatException>(), $"prefix of {length} bytes");
        }
    }

    [Test]
    public void MessageNamesTheFileAndTheProblem()
    {
        string path = Path.Combine(_dir, "short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);

        var ex = Assert.Throws<SafeTensorsFormatException>(() => SafeTensors.Read(path))!;

        Assert.That(ex.Message, Does.Contain(path).And.Contain("shorter than the 8-byte"));
        Assert.That(ex.SourceName, Is.EqualTo(path));
    }

    [TestCase(100_000_001UL, "exceeds the limit")]
    [TestCase(ulong.MaxValue, "exceeds the limit")]
    [TestCase(1UL << 63, "exceeds the limit")]
    [TestCase(100_000_000UL, "larger than the")]
    [TestCase(57UL, "larger than the")]
    public void OversizedHeaderIsRefused(ulong declared, string problem)
    {
        byte[] bytes = Make("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declared);

        Assert.That(() => SafeTensors.Read(bytes, "big"),
            Throws.TypeOf<SafeTensorsFormatException>().With.Message.Contains(problem));
    }

    private static IEnumerable<TestCaseData> BadFiles()
    {
        static TestCaseData Case(string name, string json, int data, string problem, bool pad = true) =>
            new TestCaseData(json, data, pad, problem).SetName($"Refuses_{name}");
        const string a8 = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

        yield return Case("OverlappingOffsets", "{" + a8 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlap");
        yield return Case("IdenticalOffsets", "{" + a8 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "overlap");
        yield return Case("GapBetweenTensors", "{" + a8 + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", 16, "gap");
        yield return Case("GapAtStart", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap");
        yield return Case("TrailingBytes", "{" + a8 + "}", 9, "trailing bytes");
        yield return Case("TrailingBytesNoTensors", "{}", 3, "trailing bytes");
        yield return Case("WrongByteLength", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12");
        yield return Case("WrongByteLengthForDtype", "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "needs 16");
        yield return Case("BeginAfterEnd", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, "begin > end");
        yield return Case("OffsetsPastData", "{" + a8 + "}", 4, "run past");
        yield return Case("HugeOffsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[18446744073709551615,18446744073709551615]}}", 0, "run past");
        yield return Case("OneOffset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0]}}", 0, "expected [begin, end]");
        yield return Case("ThreeOffsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0,0]}}", 0, "expected [begin, end]");
        yield return Case("NegativeOffset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[-1,0]}}", 0, "negative");
        yield return Case("FractionalOffset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0.5,0]}}", 0, "not an integer");
        yield return Case("OffsetOver64Bits", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,18446744073709551616]}}", 0, "not an integer");
        yield return Case("NegativeDimension", "{\"a\":{\"dtype\":\"U8\",\"shape\":[-2],\"data_offsets\":[0,0]}}", 0, "negative");
        yield return Case("DimensionOverInt", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2147483648,0],\"data_offsets\":[0,0]}}", 0, "exceeds");
        yield return Case("ShapeOverflow", "{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", 8, "overflows");
        yield return Case("StringDimension", "{\"a\":{\"dtype\":\"U8\",\"shape\":[\"2\"],\"data_offsets\":[0,2]}}", 2, "where a number belongs");
        yield return Case("ShapeNotArray", "{\"a\":{\"dtype\":\"U8\",\"shape\":2,\"data_offsets\":[0,2]}}", 2, "not an array");
        yield return Case("UnknownDtype", "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16, "unknown or unsupported dtype");
        yield return Case("LowercaseDtype", "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown or unsupported dtype");
        yield return Case("SubByteDtype", "{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1, "unknown or unsupported dtype");
        yield return Case("DtypeNotString", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'dtype' is not a string");
        yield return Case("MissingDtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing field 'dtype'");
        yield return Case("MissingShape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing field 'shape'");
        yield return Case("MissingOffsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing field 'data_offsets'");
        yield return Case("DuplicateField", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "duplicate field");
        yield return Case("EntryNotObject", "{\"a\":[1,2]}", 0, "not a JSON object");
        yield return Case("DuplicateNames", "{" + a8 + "," + a8 + "}", 8, "duplicate key 'a'");
        yield return Case("DuplicateNamesViaEscape", "{" + a8 + ",\"\\u0061\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", 8, "duplicate key 'a'");
        yield return Case("DuplicateMetadata", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key");
        yield return Case("DuplicateMetadataKey", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate key 'k'");
        yield return Case("MetadataNotObject", "{\"__metadata__\":[\"x\"]}", 0, "is not a JSON object");
        yield return Case("MetadataValueNotString", "{\"__metadata__\":{\"epoch\":3}}", 0, "not a string");
        yield return Case("HeaderArray", "[]", 0, "does not start with '{'");
        yield return Case("HeaderLeadingSpace", " {}", 0, "does not start with '{'");
        yield return Case("EmptyHeader", "", 0, "does not start with '{'");
        yield return Case("HeaderNotJson", "{a:1}", 0, "not valid JSON");
        yield return Case("HeaderUnclosed", "{\"a\":{\"dtype\":\"F32\"", 0, "not valid JSON");
        yield return Case("TrailingComma", "{\"__metadata__\":{},}", 0, "not valid JSON");
        yield return Case("Comment", "{/* hi */}", 0, "not valid JSON");
        yield return Case("TrailingJson", "{}{}", 0, "not valid JSON");
        yield return Case("TrailingGarbage", "{} x", 0, "not valid JSON");
        yield return Case("PaddedWithZeros", "{}\0\0\0\0\0\0", 0, "not valid JSON", pad: false);
        yield return Case("LoneSurrogateEscape", "{\"\\ud800\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "invalid JSON string");
        yield return Case("TooDeep", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0],\"x\":" + new string('[', 40) + new string(']', 40) + "}}", 0, "not valid JSON");
    }

    [TestCaseSource(nameof(BadFiles))]
    public void BadFileIsRefused(string json, int dataLength, bool pad, string problem)
    {
        byte[] bytes = Make(json, dataLength, pad);

        Assert.That(() => SafeTensors.Read(bytes, "bad.safetensors"),
            Throws.TypeOf<SafeTensorsFormatException>().With.Message.Contains(problem).And.Message.Contains("bad.safetensors"));
    }

    [Test]
    public void InvalidUtf8HeaderIsRefused()
    {
        byte[] bytes = Make("{\"__metadata__\":{\"k\":\"xx\"}}", 0);
        int at = Array.IndexOf(bytes, (byte)'x');
        bytes[at] = 0xC3; // lead byte followed by 'x': invalid sequence
        Assert.That(() => SafeTensors.Read(bytes, "utf8"),
            Throws.TypeOf<SafeTensorsFormatException>().With.Message.Contains("UTF-8"));
    }

    [Test]
    public void AcceptedEdgeCasesFollowTheReference()
    {
        // Unknown entry fields are ignored; null metadata means none; zero-length tensors may share an offset.
        byte[] bytes = Make("{\"__metadata__\":null,\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0],\"extra\":{\"x\":[1]}},"
            + "\"b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},\"c\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", 1);

        SafeTensorFile file = SafeTensors.Read(bytes, "edge");

        Assert.That(file.Tensors.Keys, Is.EquivalentTo(new[] { "a", "b", "c" }));
        Assert.That(file.Metadata, Is.Empty);
        Assert.That(file.Tensors["c"].Data.ToArray(), Is.EqualTo(new byte[] { 0 }));
    }

    // ---------------------------------------------------------------------------------------
    // Fuzz: mutated files either parse or are refused with SafeTensorsFormatException
    // ---------------------------------------------------------------------------------------

    [Test]
    public void FuzzedFilesParseOrAreRefusedCleanly()
    {
        byte[][] seeds =
        [
            SafeTensors.Serialize(SampleEntries(), new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ü\n" }),
            SafeTensors.Serialize([SafeTensorEntry.FromFloat32("a", [2], [1f, 2f])]),
            SafeTensors.Serialize([]),
            SafeTensors.Serialize([SafeTensorEntry.FromInt32("x", [1, 1, 1], [5]), new SafeTensorEntry("z", SafeTensorDtype.BF16, [2], new byte[4])]),
        ];
        const int Cases = 5000;
        var random = new Random(20240611);
        var failures = new List<string>();
        int parsed = 0, refused = 0;
        var clock = Stopwatch.StartNew();

        var run = Task.Run(() =>
        {
            for (int i = 0; i < Cases; i++)
            {
                byte[] seed = seeds[random.Next(seeds.Length)];
                byte[] mutated = Mutate(seed, random);
                try
                {
                    SafeTensorFile file = SafeTensors.Read(mutated, "fuzz");
                    parsed++;
                    // Whatever was accepted must be consistent: it re-serializes and reads back.
                    byte[] again = SafeTensors.Serialize(file.Tensors.Values, file.Metadata.Count > 0 ? file.Metadata : null);
                    AssertSameEntries(SafeTensors.Read(again, "fuzz-again").Tensors, file.Tensors.Values);
                }
                catch (SafeTensorsFormatException)
                {
                    refused++;
                }
                catch (Exception ex) when (ex is not AssertionException)
                {
                    failures.Add($"case {i}: {ex.GetType().Name}: {ex.Message} | {Convert.ToHexString(mutated)}");
                }
            }
        });

        Assert.That(run.Wait(TimeSpan.FromSeconds(60)), Is.True, "fuzz loop did not finish (hang?)");
        TestContext.Out.WriteLine($"{Cases} cases in {clock.ElapsedMilliseconds} ms: {parsed} parsed, {refused} refused");
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(5)));
        Assert.That(refused, Is.GreaterThan(Cases / 2), "mutations should mostly break the file");
        Assert.That(parsed, Is.GreaterThan(0), "some mutations (data bytes, padding) keep the file valid");
    }

    /// <summary>Well-formed JSON with random dtypes, shapes and offsets: reaches the overlap, gap and coverage checks.</summary>
    private static byte[] RandomLayout(Random random)
    {
        string[] dtypes = ["U8", "I16", "F32", "F64", "BF16", "I64", "X9"];
        var parts = new List<string>();
        int count = random.Next(4);
        for (int t = 0; t < count; t++)
        {
            int begin = random.Next(20), end = random.Next(3) == 0 ? random.Next(20) : begin + 4 * random.Next(3);
            string shape = string.Join(",", Enumerable.Range(0, random.Next(3)).Select(_ => random.Next(4)));
            parts.Add($"\"t{random.Next(3)}\":{{\"dtype\":\"{dtypes[random.Next(dtypes.Length)]}\",\"shape\":[{shape}],\"data_offsets\":[{begin},{end}]}}");
        }
        return Make("{" + string.Join(",", parts) + "}", random.Next(24));
    }

    private static readonly byte[] JsonBytes = Encoding.ASCII.GetBytes("{}[]\",:-0123456789.eE \\u nul tr");

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = new List<byte>(seed);
        int headerEnd = 8 + (int)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(seed), (ulong)seed.Length - 8);
        int rounds = 1 + random.Next(3);
        for (int r = 0; r < rounds && bytes.Count > 0; r++)
        {
            int at = random.Next(bytes.Count);
            int inHeader = 8 + random.Next(Math.Max(1, Math.Min(headerEnd, bytes.Count) - 8));
            switch (random.Next(10))
            {
                case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;                       // bit flip
                case 1: bytes[at] = (byte)random.Next(256); break;                               // byte replace
                case 2: bytes.Insert(at, (byte)random.Next(256)); break;                         // insertion
                case 3: bytes.RemoveRange(at, Math.Min(1 + random.Next(8), bytes.Count - at)); break; // deletion
                case 4: bytes.RemoveRange(at, bytes.Count - at); break;                          // truncation
                case 5:                                                                          // header: JSON-ish byte
                    if (inHeader < bytes.Count) bytes[inHeader] = JsonBytes[random.Next(JsonBytes.Length)];
                    break;
                case 6:                                                                          // header: insert JSON-ish byte
                    if (inHeader <= bytes.Count) bytes.Insert(inHeader, JsonBytes[random.Next(JsonBytes.Length)]);
                    break;
                case 7:                                                                          // size prefix nudged
                    if (bytes.Count >= 8)
                    {
                        byte[] prefix = bytes.Take(8).ToArray();
                        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix) + (ulong)(random.Next(17) - 8);
                        BinaryPrimitives.WriteUInt64LittleEndian(prefix, n);
                        for (int k = 0; k < 8; k++) bytes[k] = prefix[k];
                    }
                    break;
                case 8:                                                                          // plausible header, random layout
                    return RandomLayout(random);
                default:                                                                         // header: digit change
                    int digit = bytes.FindIndex(Math.Min(inHeader, bytes.Count - 1), b => b is >= (byte)'0' and <= (byte)'9');
                    if (digit >= 0 && digit < headerEnd) bytes[digit] = (byte)('0' + random.Next(10));
                    break;
            }
        }
        return bytes.ToArray();
    }

    // ---------------------------------------------------------------------------------------
    // Atomic write
    // ---------------------------------------------------------------------------------------

    private static IEnumerable<SafeTensorEntry> ThrowingAfterOne()
    {
        yield return SafeTensorEntry.FromFloat32("ok", [1], [1f]);
        throw new InvalidOperationException("enumeration failed");
    }

    [Test]
    public void FailingEnumeratorLeavesPreviousFileAndNoTemp()
    {
        string path = Path.Combine(_dir, "ckpt.safetensors");
        SafeTensors.Write(path, SampleEntries(), null);
        byte[] before = File.ReadAllBytes(path);

        Assert.That(() => SafeTensors.Write(path, ThrowingAfterOne(), null),
            Throws.InvalidOperationException.With.Message.EqualTo("enumeration failed"));

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(FilesInDir(), Is.EqualTo(new[] { "ckpt.safetensors" }));
    }

    [Test]
    public void InvalidArgumentsLeavePreviousFileAndNoTemp()
    {
        string path = Path.Combine(_dir, "ckpt.safetensors");
        SafeTensors.Write(path, SampleEntries(), null);
        byte[] before = File.ReadAllBytes(path);
        SafeTensorEntry a = SafeTensorEntry.FromInt32("a", [1], [1]);

        Assert.That(() => SafeTensors.Write(path, [a, a], null), Throws.ArgumentException.With.Message.Contains("duplicate"));

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(FilesInDir(), Is.EqualTo(new[] { "ckpt.safetensors" }));
    }

    [TestCase(0)]
    [TestCase(5)]
    [TestCase(8)]
    [TestCase(40)]
    [TestCase(-20)]  // inside the data section, counted from the end
    [TestCase(-1)]   // at flush, after every byte was written
    public void FailureMidWriteLeavesPreviousFileAndNoTemp(int failAfter)
    {
        string path = Path.Combine(_dir, "ckpt.safetensors");
        SafeTensors.Write(path, [SafeTensorEntry.FromFloat32("old", [1], [42f])], null);
        byte[] before = File.ReadAllBytes(path);
        SafeTensorEntry[] entries = SampleEntries();
        int total = SafeTensors.Serialize(entries).Length;
        long limit = failAfter == -1 ? total : failAfter < 0 ? total + failAfter : failAfter;

        Assert.That(() => SafeTensors.Write(path, entries, null, s => new FailingStream(s, limit, failOnFlush: failAfter == -1)),
            Throws.TypeOf<IOException>().With.Message.EqualTo("injected failure"));

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(FilesInDir(), Is.EqualTo(new[] { "ckpt.safetensors" }));
    }

    [Test]
    public void WriteReplacesAnExistingFileAndCreatesANewOne()
    {
        string path = Path.Combine(_dir, "ckpt.safetensors");
        SafeTensors.Write(path, [SafeTensorEntry.FromFloat32("old", [1], [42f])], null);
        SafeTensors.Write(path, SampleEntries(), null);

        AssertSameEntries(SafeTensors.Read(path).Tensors, SampleEntries());
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(SafeTensors.Serialize(SampleEntries())));
        Assert.That(FilesInDir(), Is.EqualTo(new[] { "ckpt.safetensors" }));
    }

    /// <summary>Passes writes through until <c>limit</c> bytes, then throws; optionally fails on Flush instead.</summary>
    private sealed class FailingStream(Stream inner, long limit, bool failOnFlush) : Stream
    {
        private long _written;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override void Flush()
        {
            if (failOnFlush) throw new IOException("injected failure");
            inner.Flush();
        }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            long room = limit - _written;
            if (!failOnFlush && buffer.Length > room)
            {
                inner.Write(buffer[..(int)Math.Max(0, room)]);
                throw new IOException("injected failure");
            }
            inner.Write(buffer);
            _written += buffer.Length;
        }
    }

    // ---------------------------------------------------------------------------------------
    // Entry construction
    // ---------------------------------------------------------------------------------------

    [Test]
    public void EntryValidatesItsArguments()
    {
        Assert.That(() => new SafeTensorEntry("a", SafeTensorDtype.F32, [3], new byte[8]), Throws.ArgumentException.With.Message.Contains("needs 12"));
        Assert.That(() => new SafeTensorEntry("a", SafeTensorDtype.U8, [-1], Array.Empty<byte>()), Throws.ArgumentException.With.Message.Contains("negative"));
        Assert.That(() => new SafeTensorEntry("__metadata__", SafeTensorDtype.U8, [0], Array.Empty<byte>()), Throws.ArgumentException.With.Message.Contains("reserved"));
        Assert.That(() => new SafeTensorEntry("bad\ud800", SafeTensorDtype.U8, [0], Array.Empty<byte>()), Throws.ArgumentException.With.Message.Contains("surrogate"));
        Assert.That(() => SafeTensorEntry.FromInt32("i", [1], [1]).ToFloat32Array(), Throws.InvalidOperationException.With.Message.Contains("I32"));
    }

    [Test]
    public void DtypeNamesAndSizesMatchTheSpec()
    {
        foreach (SafeTensorDtype dtype in Enum.GetValues<SafeTensorDtype>())
        {
            Assert.That(SafeTensorDtypeExtensions.TryParseWireName(dtype.WireName(), out SafeTensorDtype back), Is.True);
            Assert.That(back, Is.EqualTo(dtype));
        }
        Assert.That(SafeTensorDtype.F8E4M3.WireName(), Is.EqualTo("F8_E4M3"));
        Assert.That(SafeTensorDtype.BF16.ElementSize(), Is.EqualTo(2));
        Assert.That(SafeTensorDtype.U64.ElementSize(), Is.EqualTo(8));
        Assert.That(SafeTensorDtype.Bool.ElementSize(), Is.EqualTo(1));
    }
}
