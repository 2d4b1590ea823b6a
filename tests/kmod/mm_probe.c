// SPDX-License-Identifier: GPL-2.0
/*
 * mm_probe: a test module that puts core mm into the situations the
 * mm-patches series changes, so guest tests can show each patch's effect
 * on the kernel under test (tests/guest/test_95_mm_patches.py).
 *
 * debugfs mm_probe/take: "PFN NR busy" takes NR pages at PFN with
 * alloc_contig_range() and just keeps them: memory that offlining can
 * neither migrate nor skip. "PFN NR offline" also marks them PageOffline
 * (and skippable where core mm has page_offline_skippable()) and takes them out of
 * the managed page count, as a memory device driver does with memory it
 * unplugged, but does nothing in the memory notifier.
 * debugfs mm_probe/release: any write gives every range still held back.
 * debugfs mm_probe/held: one line per range held, "PFN NR busy|offline".
 *
 * A range inside a memory block that went offline is forgotten: its pages
 * left with the block.
 */
#include <linux/debugfs.h>
#include <linux/gfp.h>
#include <linux/memory.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/page-flags.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

/**
 * struct mm_probe_range - pages taken by a write to "take"
 * @list: in mm_probe_ranges
 * @pfn: first page frame
 * @nr: number of pages
 * @offline: marked PageOffline and taken out of the managed count
 */
struct mm_probe_range {
	struct list_head list;
	unsigned long pfn;
	unsigned long nr;
	bool offline;
};

/* Ranges held; mm_probe_lock serializes the debugfs files and the notifier. */
static LIST_HEAD(mm_probe_ranges);
static DEFINE_MUTEX(mm_probe_lock);
static struct dentry *mm_probe_dir;

#ifdef VMEM_HAVE_OFFLINE_SKIPPABLE
#define MM_PROBE_SKIPPABLE "yes"
static void mm_probe_set_skippable(struct page *page, bool skippable)
{
	if (skippable)
		__page_set_offline_skippable(page);
	else
		__page_clear_offline_skippable(page);
}
#else
#define MM_PROBE_SKIPPABLE "no"
static void mm_probe_set_skippable(struct page *page, bool skippable)
{
}
#endif

static void mm_probe_mark(struct mm_probe_range *r, bool offline)
{
	unsigned long i;

	for (i = 0; i < r->nr; i++) {
		struct page *page = pfn_to_page(r->pfn + i);

		if (offline) {
			__SetPageOffline(page);
			mm_probe_set_skippable(page, true);
		} else {
			mm_probe_set_skippable(page, false);
			__ClearPageOffline(page);
		}
	}
	adjust_managed_page_count(pfn_to_page(r->pfn),
				  offline ? -(long)r->nr : (long)r->nr);
}

static void mm_probe_give_back(struct mm_probe_range *r)
{
	if (r->offline)
		mm_probe_mark(r, false);
	free_contig_range(r->pfn, r->nr);
	list_del(&r->list);
	kfree(r);
}

static ssize_t mm_probe_take_write(struct file *file, const char __user *ubuf,
				   size_t count, loff_t *ppos)
{
	struct mm_probe_range *r;
	char buf[64], kind[16];
	int rc;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	if (sscanf(buf, "%lu %lu %15s", &r->pfn, &r->nr, kind) != 3 || !r->nr ||
	    (strcmp(kind, "busy") && strcmp(kind, "offline"))) {
		pr_warn("mm_probe: take wants \"PFN NR busy|offline\"\n");
		kfree(r);
		return -EINVAL;
	}
	r->offline = !strcmp(kind, "offline");
	rc = alloc_contig_range(r->pfn, r->pfn + r->nr, MIGRATE_MOVABLE,
				GFP_KERNEL);
	if (rc) {
		pr_warn("mm_probe: cannot take %lu pages at pfn %#lx: %d\n",
			r->nr, r->pfn, rc);
		kfree(r);
		return rc;
	}
	mutex_lock(&mm_probe_lock);
	if (r->offline)
		mm_probe_mark(r, true);
	list_add(&r->list, &mm_probe_ranges);
	mutex_unlock(&mm_probe_lock);
	pr_info("mm_probe: took %lu pages at pfn %#lx (%s)\n", r->nr, r->pfn,
		kind);
	return count;
}

static ssize_t mm_probe_release_write(struct file *file,
				      const char __user *ubuf, size_t count,
				      loff_t *ppos)
{
	struct mm_probe_range *r, *tmp;

	mutex_lock(&mm_probe_lock);
	list_for_each_entry_safe(r, tmp, &mm_probe_ranges, list)
		mm_probe_give_back(r);
	mutex_unlock(&mm_probe_lock);
	return count;
}

static int mm_probe_held_show(struct seq_file *m, void *v)
{
	struct mm_probe_range *r;

	mutex_lock(&mm_probe_lock);
	list_for_each_entry(r, &mm_probe_ranges, list)
		seq_printf(m, "%lu %lu %s\n", r->pfn, r->nr,
			   r->offline ? "offline" : "busy");
	mutex_unlock(&mm_probe_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mm_probe_held);

static const struct file_operations mm_probe_take_fops = {
	.owner = THIS_MODULE,
	.write = mm_probe_take_write,
};

static const struct file_operations mm_probe_release_fops = {
	.owner = THIS_MODULE,
	.write = mm_probe_release_write,
};

/* Deliberately nothing in MEM_GOING_OFFLINE: only forget what went away. */
static int mm_probe_memory_event(struct notifier_block *nb,
				 unsigned long action, void *arg)
{
	struct memory_notify *mn = arg;
	struct mm_probe_range *r, *tmp;

	if (action != MEM_OFFLINE)
		return NOTIFY_OK;
	mutex_lock(&mm_probe_lock);
	list_for_each_entry_safe(r, tmp, &mm_probe_ranges, list) {
		if (r->pfn >= mn->start_pfn &&
		    r->pfn + r->nr <= mn->start_pfn + mn->nr_pages) {
			pr_info("mm_probe: pfn %#lx went offline with its block\n",
				r->pfn);
			list_del(&r->list);
			kfree(r);
		}
	}
	mutex_unlock(&mm_probe_lock);
	return NOTIFY_OK;
}

static struct notifier_block mm_probe_memory_nb = {
	.notifier_call = mm_probe_memory_event,
};

static int __init mm_probe_init(void)
{
	int rc;

	rc = register_memory_notifier(&mm_probe_memory_nb);
	if (rc)
		return rc;
	mm_probe_dir = debugfs_create_dir("mm_probe", NULL);
	debugfs_create_file("take", 0200, mm_probe_dir, NULL,
			    &mm_probe_take_fops);
	debugfs_create_file("release", 0200, mm_probe_dir, NULL,
			    &mm_probe_release_fops);
	debugfs_create_file("held", 0400, mm_probe_dir, NULL,
			    &mm_probe_held_fops);
	pr_info("mm_probe: loaded (skippable PageOffline: %s)\n",
		MM_PROBE_SKIPPABLE);
	return 0;
}

static void __exit mm_probe_exit(void)
{
	debugfs_remove_recursive(mm_probe_dir);
	unregister_memory_notifier(&mm_probe_memory_nb);
	mm_probe_release_write(NULL, NULL, 0, NULL);
}

module_init(mm_probe_init);
module_exit(mm_probe_exit);
MODULE_DESCRIPTION("Puts core mm in the states the mm-patches tests need");
MODULE_LICENSE("GPL");
