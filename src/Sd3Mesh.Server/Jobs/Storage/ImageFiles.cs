namespace Sd3Mesh.Server.Jobs.Storage;

/// <summary>
/// Results as files in the data folder's <c>images/</c>, named by image id. A file is written whole under a temporary
/// name, flushed to disk, then renamed over its final name and the folder flushed (<see cref="DirectorySync"/>), so a
/// reader (or a server restarted after a crash or a power loss) finds either no file or the complete one; temporaries a killed process left behind are removed at open. The database records each file
/// by its path relative to the data folder.
/// </summary>
public sealed class ImageFiles
{
    public const string Folder = "images";
    private const string Temporary = ".tmp";

    private readonly string _dataFolder;

    public ImageFiles(string dataFolder)
    {
        _dataFolder = dataFolder;
        var images = Path.Combine(dataFolder, Folder);
        Directory.CreateDirectory(images);
        foreach (var left in Directory.EnumerateFiles(images, "*" + Temporary)) File.Delete(left);
    }

    /// <summary>Writes an image's bytes; the path to record (relative to the data folder).</summary>
    public string Write(string imageId, JobImage image)
    {
        string file = Path.Combine(Folder, imageId + (image.MediaType == JobImage.Npy ? ".npy" : ".png"));
        string path = Path.Combine(_dataFolder, file), temporary = path + Temporary;
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(image.Data);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
        DirectorySync.Flush(Path.GetDirectoryName(path)!);
        return file;
    }

    /// <summary>The bytes of a recorded file; FileNotFoundException (NOT_FOUND) when it is gone.</summary>
    public byte[] Read(string file) => File.ReadAllBytes(Resolve(file));

    public void Delete(string file) => File.Delete(Resolve(file));

    // Recorded paths are our own (images/ID.png), but a path from the database never leaves the data folder.
    private string Resolve(string file)
    {
        string path = Path.GetFullPath(Path.Combine(_dataFolder, file));
        if (!path.StartsWith(Path.GetFullPath(_dataFolder) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new InvalidDataException($"the job store records an image file outside the data folder: {file}");
        return path;
    }
}
