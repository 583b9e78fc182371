using System.Globalization;

namespace Sd3Mesh.Rpc;

/// <summary>The grpc-timeout header: at most 8 digits and a unit (H M S m u n).</summary>
public static class GrpcTimeout
{
    private const long MaxValue = 99_999_999;

    /// <summary>Parses a header value; false when it is not a valid timeout.</summary>
    public static bool TryParse(string? text, out TimeSpan timeout)
    {
        timeout = default;
        if (string.IsNullOrEmpty(text) || text.Length < 2 || text.Length > 9) return false;
        var digits = text.AsSpan(0, text.Length - 1);
        foreach (var c in digits) if (c is < '0' or > '9') return false;
        long value = long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
        long? ticksPerUnit = text[^1] switch
        {
            'H' => TimeSpan.TicksPerHour,
            'M' => TimeSpan.TicksPerMinute,
            'S' => TimeSpan.TicksPerSecond,
            'm' => TimeSpan.TicksPerMillisecond,
            'u' => TimeSpan.TicksPerMicrosecond,
            'n' => null,
            _ => -1,
        };
        if (ticksPerUnit == -1) return false;
        // 100 ns ticks: nanoseconds round up so that a tiny timeout never becomes zero-or-infinite.
        timeout = ticksPerUnit is null
            ? TimeSpan.FromTicks((value + 99) / 100)
            : TimeSpan.FromTicks(value * ticksPerUnit.Value);
        return true;
    }

    /// <summary>The most precise unit whose value fits in 8 digits, rounded up (never a shorter timeout).</summary>
    public static string Format(TimeSpan timeout)
    {
        long ticks = Math.Max(timeout.Ticks, 0);
        if (ticks <= MaxValue / 100) return $"{ticks * 100}n";
        (long unit, char name)[] units =
        [
            (TimeSpan.TicksPerMicrosecond, 'u'), (TimeSpan.TicksPerMillisecond, 'm'), (TimeSpan.TicksPerSecond, 'S'),
            (TimeSpan.TicksPerMinute, 'M'), (TimeSpan.TicksPerHour, 'H'),
        ];
        foreach (var (unit, name) in units)
        {
            long value = (ticks + unit - 1) / unit;
            if (value <= MaxValue) return value.ToString(CultureInfo.InvariantCulture) + name;
        }
        return MaxValue.ToString(CultureInfo.InvariantCulture) + "H";
    }
}
