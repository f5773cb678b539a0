// SPDX-License-Identifier: GPL-2.0
/* nsharness self-test: loading this module makes the kernel print one real WARNING
 * (with its call trace), so the harness's splat detection is proven on a real kernel. */
#include <linux/bug.h>
#include <linux/init.h>
#include <linux/module.h>

static noinline int nsh_warn_init(void)
{
	WARN(1, "nsharness: deliberate warning from nsh_warn\n");
	return -EINVAL; /* refuse to stay loaded: nothing to clean up */
}
module_init(nsh_warn_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("nsharness self-test: emits one kernel WARNING");
